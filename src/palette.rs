//! The run colours, shared by the TUI (xterm-256 indices) and the figures
//! of `sslwatch plot` (the same colours as RGB), so a run has one colour
//! everywhere.
//!
//! A run's colour is an index into [`RUN_PALETTE`] (modulo its length): in
//! the TUI the run's first-seen order, in `plot` its place among all runs
//! sorted by name, which is the same order for the runs present when the
//! TUI starts (the engine announces them sorted by name).

/// Mid-tone xterm-256 colours, distinct from each other and readable on both
/// dark and light backgrounds (no white, black or grey).
pub const RUN_PALETTE: [u8; 10] = [33, 166, 35, 163, 37, 136, 161, 99, 130, 64];

/// The xterm-256 index of run colour `index` (wrapping after
/// [`RUN_PALETTE`]'s length).
pub fn run_index(index: usize) -> u8 {
    RUN_PALETTE[index % RUN_PALETTE.len()]
}

/// The RGB of run colour `index` (see [`run_index`]).
pub fn run_rgb(index: usize) -> (u8, u8, u8) {
    xterm_rgb(run_index(index))
}

/// xterm's default RGB for a 256-colour index: the 16 system colours,
/// the 6x6x6 cube (16-231, levels 0, 95, 135, 175, 215, 255) and the grey
/// ramp (232-255, 8 to 238 in steps of 10).
pub fn xterm_rgb(index: u8) -> (u8, u8, u8) {
    const SYSTEM: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
    match index {
        0..=15 => SYSTEM[usize::from(index)],
        16..=231 => {
            let i = index - 16;
            (level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        _ => {
            let g = 8 + 10 * (index - 232);
            (g, g, g)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xterm_cube_and_grey_ramp_match_xterms_table() {
        // Values from xterm's 256colres.h.
        assert_eq!(xterm_rgb(16), (0, 0, 0));
        assert_eq!(xterm_rgb(33), (0, 135, 255));
        assert_eq!(xterm_rgb(166), (215, 95, 0));
        assert_eq!(xterm_rgb(64), (95, 135, 0));
        assert_eq!(xterm_rgb(231), (255, 255, 255));
        assert_eq!(xterm_rgb(232), (8, 8, 8));
        assert_eq!(xterm_rgb(255), (238, 238, 238));
        assert_eq!(xterm_rgb(9), (255, 0, 0));
    }

    #[test]
    fn run_colours_wrap_after_the_palette() {
        assert_eq!(run_index(0), 33);
        assert_eq!(run_index(RUN_PALETTE.len()), 33);
        assert_eq!(run_rgb(1), (215, 95, 0));
    }
}
