#!/usr/bin/env python3
"""Render a `tmux capture-pane -p -e` capture (text with ANSI SGR escapes) to a PNG.

Usage: python3 scripts/render_capture.py CAPTURE.txt OUT.png [--cols N --rows M]

The picture is a plain cell grid, like a terminal draws it: one background
rectangle per cell, then the glyph. Text comes from DejaVu Sans Mono (with
DejaVu Sans as the fallback for glyphs the monospace face lacks); braille
patterns, block elements and box-drawing lines are drawn as shapes so that
plots, sparklines and borders line up exactly from cell to cell.

Stdlib + Pillow only.
"""

import argparse
import os
import sys
import unicodedata

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_FILES = {
    (False, False): "DejaVuSansMono.ttf",
    (True, False): "DejaVuSansMono-Bold.ttf",
    (False, True): "DejaVuSansMono-Oblique.ttf",
    (True, True): "DejaVuSansMono-BoldOblique.ttf",
}
FALLBACK_FILES = {
    False: "DejaVuSans.ttf",
    True: "DejaVuSans-Bold.ttf",
}

FONT_SIZE = 15
PADDING = 12
DEFAULT_FG = (0xD0, 0xD0, 0xD0)
DEFAULT_BG = (0x1C, 0x1C, 0x1C)
DIM_KEEP = 0.6  # faint text: this much of the colour, the rest background
SUPERSAMPLE = 4  # drawn shapes (braille dots, arcs) are antialiased at this scale

# xterm's 16 base colours.
BASE16 = [
    (0x00, 0x00, 0x00), (0xCD, 0x00, 0x00), (0x00, 0xCD, 0x00), (0xCD, 0xCD, 0x00),
    (0x00, 0x00, 0xEE), (0xCD, 0x00, 0xCD), (0x00, 0xCD, 0xCD), (0xE5, 0xE5, 0xE5),
    (0x7F, 0x7F, 0x7F), (0xFF, 0x00, 0x00), (0x00, 0xFF, 0x00), (0xFF, 0xFF, 0x00),
    (0x5C, 0x5C, 0xFF), (0xFF, 0x00, 0xFF), (0x00, 0xFF, 0xFF), (0xFF, 0xFF, 0xFF),
]


def xterm256(n):
    """RGB of xterm 256-colour palette entry n."""
    n = max(0, min(255, n))
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        levels = (0, 95, 135, 175, 215, 255)
        return (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

class Style:
    __slots__ = ("fg", "bg", "bold", "dim", "italic", "underline", "reverse",
                 "hidden", "strike")

    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None  # None = default, else (r, g, b)
        self.bg = None
        self.bold = False
        self.dim = False
        self.italic = False
        self.underline = False
        self.reverse = False
        self.hidden = False
        self.strike = False

    def key(self):
        return (self.fg, self.bg, self.bold, self.dim, self.italic, self.underline,
                self.reverse, self.hidden, self.strike)


class Cell:
    __slots__ = ("text", "style", "width", "cont")

    def __init__(self, text=" ", style=None, width=1, cont=False):
        self.text = text
        self.style = style  # tuple from Style.key(), None = all default
        self.width = width  # 2 for the first cell of a wide character
        self.cont = cont  # True for the second cell of a wide character


def char_width(ch):
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2
    return 1


def _extended_colour(params, i):
    """Parse 38/48 ;5;N or ;2;R;G;B starting at params[i] (the 38/48). Returns (colour, next_i)."""
    if i + 1 >= len(params):
        return None, len(params)
    mode = params[i + 1]
    if mode == 5 and i + 2 < len(params):
        return xterm256(params[i + 2]), i + 3
    if mode == 2 and i + 4 < len(params):
        r, g, b = (max(0, min(255, v)) for v in params[i + 2:i + 5])
        return (r, g, b), i + 5
    return None, len(params)


def apply_sgr(style, raw):
    # Sub-parameters with ':' (38:2::R:G:B, 38:5:N, 4:3) are folded into the
    # ';' form; a colour-space id (the empty field in 38:2::R:G:B) is dropped.
    params = []
    for group in raw.split(";"):
        if ":" in group:
            sub = group.split(":")
            head = sub[0]
            rest = sub[1:]
            if head in ("38", "48", "58") and rest and rest[0] == "2" and len(rest) >= 5:
                rest = ["2"] + rest[-3:]
            elif head == "4":
                # curly/double/... underline styles: 4:0 is off.
                params.append(24 if rest and rest[0] == "0" else 4)
                continue
            for s in [head] + rest:
                params.append(int(s) if s.isdigit() else 0)
        else:
            params.append(int(group) if group.isdigit() else 0)
    if not params:
        params = [0]
    i = 0
    while i < len(params):
        p = params[i]
        if p == 0:
            style.reset()
        elif p == 1:
            style.bold = True
        elif p == 2:
            style.dim = True
        elif p == 3:
            style.italic = True
        elif p in (4, 21):
            style.underline = True
        elif p == 7:
            style.reverse = True
        elif p == 8:
            style.hidden = True
        elif p == 9:
            style.strike = True
        elif p == 22:
            style.bold = False
            style.dim = False
        elif p == 23:
            style.italic = False
        elif p == 24:
            style.underline = False
        elif p == 27:
            style.reverse = False
        elif p == 28:
            style.hidden = False
        elif p == 29:
            style.strike = False
        elif 30 <= p <= 37:
            style.fg = BASE16[p - 30]
        elif p == 39:
            style.fg = None
        elif 40 <= p <= 47:
            style.bg = BASE16[p - 40]
        elif p == 49:
            style.bg = None
        elif 90 <= p <= 97:
            style.fg = BASE16[p - 90 + 8]
        elif 100 <= p <= 107:
            style.bg = BASE16[p - 100 + 8]
        elif p in (38, 48, 58):
            colour, nxt = _extended_colour(params, i)
            if colour is not None:
                if p == 38:
                    style.fg = colour
                elif p == 48:
                    style.bg = colour
            i = nxt
            continue
        i += 1


def parse_capture(text):
    """Turn the capture into rows of Cells. SGR state carries across lines, as
    tmux writes it (it only emits changes)."""
    rows = [[]]
    style = Style()
    row = rows[0]
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\x1b":
            if i + 1 < n and text[i + 1] == "[":
                j = i + 2
                while j < n and not ("\x40" <= text[j] <= "\x7e"):
                    j += 1
                if j < n and text[j] == "m":
                    body = text[i + 2:j]
                    if not body or body[0] not in "<=>?":
                        apply_sgr(style, body)
                i = j + 1
                continue
            if i + 1 < n and text[i + 1] in "]PX^_":
                # OSC / DCS / ...: skip to BEL or ST.
                j = i + 2
                while j < n:
                    if text[j] == "\x07":
                        j += 1
                        break
                    if text[j] == "\x1b" and j + 1 < n and text[j + 1] == "\\":
                        j += 2
                        break
                    j += 1
                i = j
                continue
            # Two- or three-character escapes, e.g. ESC ( B.
            i += 3 if (i + 1 < n and text[i + 1] in "()*+") else 2
            continue
        i += 1
        if ch == "\n":
            row = []
            rows.append(row)
            continue
        if ch == "\t":
            target = (len(row) // 8 + 1) * 8
            while len(row) < target:
                row.append(Cell(" ", style.key()))
            continue
        if ch < " " or ch == "\x7f" or 0x80 <= ord(ch) < 0xA0:
            continue
        w = char_width(ch)
        if w == 0:
            # Combining mark: belongs to the previous cell.
            if row:
                k = len(row) - 1
                if row[k].cont and k > 0:
                    k -= 1
                row[k].text += ch
            continue
        row.append(Cell(ch, style.key(), width=w))
        if w == 2:
            row.append(Cell("", style.key(), width=0, cont=True))
    # A capture ends with a newline: that last empty row is not a screen row.
    if rows and not rows[-1]:
        rows.pop()
    return rows


# ---------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------

def blend(a, b, t):
    """t of a, (1 - t) of b."""
    return tuple(int(round(a[k] * t + b[k] * (1 - t))) for k in range(3))


def resolve(style_key):
    """(fg, bg, bold, italic, underline, strike, hidden) with colours resolved."""
    if style_key is None:
        return DEFAULT_FG, DEFAULT_BG, False, False, False, False, False
    fg, bg, bold, dim, italic, underline, reverse, hidden, strike = style_key
    fg = fg if fg is not None else DEFAULT_FG
    bg = bg if bg is not None else DEFAULT_BG
    if reverse:
        fg, bg = bg, fg
    if dim:
        fg = blend(fg, bg, DIM_KEEP)
    return fg, bg, bold, italic, underline, strike, hidden


# ---------------------------------------------------------------------------
# Drawn glyphs (masks of one cell, cached per character)
# ---------------------------------------------------------------------------

class Shapes:
    def __init__(self, cw, ch):
        self.cw = cw
        self.ch = ch
        self.light = max(1, int(round(cw / 9.0)))
        self.heavy = self.light * 2 + 1
        self.cache = {}

    def mask(self, ch):
        if ch in self.cache:
            return self.cache[ch]
        cp = ord(ch)
        m = None
        if 0x2800 <= cp <= 0x28FF:
            m = self._braille(cp - 0x2800)
        elif 0x2580 <= cp <= 0x259F:
            m = self._block(cp)
        elif 0x2500 <= cp <= 0x257F:
            m = self._box(ch)
        self.cache[ch] = m
        return m

    # -- helpers -----------------------------------------------------------
    def _new(self, scale=1):
        return Image.new("L", (self.cw * scale, self.ch * scale), 0)

    def _down(self, im):
        return im.resize((self.cw, self.ch), Image.Resampling.BOX)

    # -- braille -------------------------------------------------------------
    def _braille(self, bits):
        s = SUPERSAMPLE
        im = self._new(s)
        d = ImageDraw.Draw(im)
        # Dots on a uniform lattice across cells: centres at (1/4, 3/4) of the
        # width and (1/8, 3/8, 5/8, 7/8) of the height.
        r = max(1.0, min(self.cw / 4.0, self.ch / 8.0) * 0.78) * s
        xs = (self.cw * 0.25 * s, self.cw * 0.75 * s)
        ys = [self.ch * (2 * k + 1) / 8.0 * s for k in range(4)]
        dots = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
        for bit, (cx, ry) in enumerate(dots):
            if bits & (1 << bit):
                x, y = xs[cx], ys[ry]
                d.ellipse((x - r, y - r, x + r, y + r), fill=255)
        return self._down(im)

    # -- block elements ------------------------------------------------------
    def _block(self, cp):
        cw, chh = self.cw, self.ch
        im = self._new()
        d = ImageDraw.Draw(im)

        def rect(x0, y0, x1, y1, v=255):
            if x1 > x0 and y1 > y0:
                d.rectangle((x0, y0, x1 - 1, y1 - 1), fill=v)

        hx, hy = cw // 2, chh // 2
        if cp == 0x2580:  # upper half
            rect(0, 0, cw, hy)
        elif 0x2581 <= cp <= 0x2588:  # lower n/8 .. full
            n = cp - 0x2580
            rect(0, chh - int(round(chh * n / 8.0)), cw, chh)
        elif 0x2589 <= cp <= 0x258F:  # left 7/8 .. 1/8
            n = 0x2590 - cp
            rect(0, 0, max(1, int(round(cw * n / 8.0))), chh)
        elif cp == 0x2590:  # right half
            rect(hx, 0, cw, chh)
        elif 0x2591 <= cp <= 0x2593:  # shades
            rect(0, 0, cw, chh, (64, 128, 192)[cp - 0x2591])
        elif cp == 0x2594:  # upper 1/8
            rect(0, 0, cw, max(1, int(round(chh / 8.0))))
        elif cp == 0x2595:  # right 1/8
            rect(cw - max(1, int(round(cw / 8.0))), 0, cw, chh)
        else:  # quadrants 2596..259F
            quads = {
                0x2596: "3", 0x2597: "4", 0x2598: "1", 0x2599: "134",
                0x259A: "14", 0x259B: "123", 0x259C: "124", 0x259D: "2",
                0x259E: "23", 0x259F: "234",
            }[cp]
            boxes = {"1": (0, 0, hx, hy), "2": (hx, 0, cw, hy),
                     "3": (0, hy, hx, chh), "4": (hx, hy, cw, chh)}
            for q in quads:
                rect(*boxes[q])
        return im

    # -- box drawing -----------------------------------------------------------
    # Light and heavy lines, rounded corners, dashes and diagonals. Double
    # lines (U+2550..U+256C) are left to the font, like any other glyph.
    def _box(self, ch):
        try:
            name = unicodedata.name(ch)
        except ValueError:
            return None
        words = name.replace("BOX DRAWINGS ", "").split()
        if "DIAGONAL" in words:
            return self._box_diagonal(words)
        if "DASH" in words:
            return self._box_dash(words)
        arms = self._parse_arms([w for w in words if w != "ARC"])
        if arms is None:
            return None
        if "ARC" in words:
            return self._box_arc(arms)
        return self._box_lines(arms)

    @staticmethod
    def _parse_arms(words):
        """Map the Unicode name's words to {direction: weight}, weight LIGHT or
        HEAVY; None for anything else (double lines). Handles 'LIGHT DOWN AND
        RIGHT', 'DOWN LIGHT AND RIGHT HEAVY', 'LIGHT LEFT AND HEAVY RIGHT', ..."""
        weights = ("LIGHT", "HEAVY")
        dirs = {"UP": ("U",), "DOWN": ("D",), "LEFT": ("L",), "RIGHT": ("R",),
                "HORIZONTAL": ("L", "R"), "VERTICAL": ("U", "D")}
        toks = [w for w in words if w != "AND"]
        if not toks or any(t not in weights and t not in dirs for t in toks):
            return None
        arms = {}
        if toks[0] in weights:
            cur = None
            for t in toks:
                if t in weights:
                    cur = t
                else:
                    for a in dirs[t]:
                        arms[a] = cur
        else:
            pending = []
            for t in toks:
                if t in weights:
                    for a in pending:
                        arms[a] = t
                    pending = []
                else:
                    pending.extend(dirs[t])
            if pending:
                return None
        return arms

    def _thick(self, weight):
        return self.heavy if weight == "HEAVY" else self.light

    @staticmethod
    def _bar(d, horizontal, a0, a1, c0, c1):
        """Fill [a0, a1) along a horizontal or vertical stroke, [c0, c1) across it."""
        if a1 > a0 and c1 > c0:
            box = (a0, c0, a1 - 1, c1 - 1) if horizontal else (c0, a0, c1 - 1, a1 - 1)
            d.rectangle(box, fill=255)

    def _box_lines(self, arms):
        """Each arm runs from its edge to the centre: to the far side of the
        perpendicular stroke if there is one (so corners and tees close), else
        just past the middle when the opposite arm continues the line."""
        im = self._new()
        d = ImageDraw.Draw(im)
        for a, w in arms.items():
            horizontal = a in "LR"
            along, across = (self.cw, self.ch) if horizontal else (self.ch, self.cw)
            t = self._thick(w)
            tc = max([self._thick(arms[b]) for b in ("UD" if horizontal else "LR") if b in arms] or [0])
            if tc:
                lo, hi = (along - tc) // 2, (along - tc) // 2 + tc
            elif {"L": "R", "R": "L", "U": "D", "D": "U"}[a] in arms:
                lo, hi = along // 2, along // 2 + 1
            else:
                lo, hi = (along - t) // 2, (along - t) // 2 + t
            a0, a1 = (0, hi) if a in "LU" else (lo, along)  # from the edge to the centre
            c0 = (across - t) // 2
            self._bar(d, horizontal, a0, a1, c0, c0 + t)
        return im

    def _box_arc(self, arms):
        # Rounded corner: straight from the edges, a quarter circle of radius
        # half the cell width in between. Drawn supersampled.
        s = SUPERSAMPLE
        cw, chh = self.cw, self.ch
        t = self.light
        im = self._new(s)
        d = ImageDraw.Draw(im)
        cx = ((cw - t) // 2 + t / 2.0) * s  # stroke centres, as straight lines have them
        cy = ((chh - t) // 2 + t / 2.0) * s
        r = min(cw / 2.0, chh / 2.0) * s
        half = t * s / 2.0
        vert = "U" if "U" in arms else "D"
        hor = "L" if "L" in arms else "R"
        sx = -1 if hor == "L" else 1
        sy = -1 if vert == "U" else 1
        # arc centre: r away from the stroke centre, toward the open side
        ax, ay = cx + sx * r, cy + sy * r
        # straight part of the vertical stroke: from the arc end to the edge
        # (none when the arc already reaches the edge: even cell widths)
        ys = (ay, chh * s) if sy > 0 else (0, ay)
        if ys[1] > ys[0]:
            d.rectangle((cx - half, ys[0], cx + half - 1, ys[1]), fill=255)
        xs = (ax, cw * s) if sx > 0 else (0, ax)
        if xs[1] > xs[0]:
            d.rectangle((xs[0], cy - half, xs[1], cy + half - 1), fill=255)
        # quarter ring
        ring = Image.new("L", im.size, 0)
        rd = ImageDraw.Draw(ring)
        rd.ellipse((ax - r - half, ay - r - half, ax + r + half, ay + r + half), fill=255)
        rd.ellipse((ax - r + half, ay - r + half, ax + r - half, ay + r - half), fill=0)
        qbox = (min(cx - half, ax), min(cy - half, ay), max(cx + half, ax), max(cy + half, ay))
        quarter = Image.new("L", im.size, 0)
        ImageDraw.Draw(quarter).rectangle(qbox, fill=255)
        ring = Image.composite(ring, Image.new("L", im.size, 0), quarter)
        im = Image.composite(Image.new("L", im.size, 255), im, ring)
        return self._down(im)

    def _box_dash(self, words):
        cw, chh = self.cw, self.ch
        n = {"DOUBLE": 2, "TRIPLE": 3, "QUADRUPLE": 4}.get(words[1], 2)
        t = self._thick(words[0])
        horizontal = words[-1] == "HORIZONTAL"
        s = SUPERSAMPLE
        im = self._new(s)
        d = ImageDraw.Draw(im)
        length = (cw if horizontal else chh) * s
        c0 = ((chh if horizontal else cw) - t) // 2 * s
        seg = length / n
        gap = seg * 0.35
        for k in range(n):
            self._bar(d, horizontal, k * seg + gap / 2, (k + 1) * seg - gap / 2, c0, c0 + t * s)
        return self._down(im)

    def _box_diagonal(self, words):
        s = SUPERSAMPLE
        cw, chh = self.cw * s, self.ch * s
        im = self._new(s)
        d = ImageDraw.Draw(im)
        w = self.light * s
        if "CROSS" in words or ("UPPER" in words and words[words.index("UPPER") + 1] == "RIGHT"):
            d.line((cw, 0, 0, chh), fill=255, width=w)
        if "CROSS" in words or ("UPPER" in words and words[words.index("UPPER") + 1] == "LEFT"):
            d.line((0, 0, cw, chh), fill=255, width=w)
        return self._down(im)


# ---------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------

class Fonts:
    def __init__(self, size):
        self.size = size
        self.faces = {k: ImageFont.truetype(os.path.join(FONT_DIR, f), size)
                      for k, f in FONT_FILES.items()}
        self.fallback = {k: ImageFont.truetype(os.path.join(FONT_DIR, f), size)
                         for k, f in FALLBACK_FILES.items()}
        base = self.faces[(False, False)]
        self.ascent, self.descent = base.getmetrics()
        self.advance = int(round(base.getlength("M")))
        self._notdef = {}
        self._has = {}

    def _render(self, font, text):
        im = Image.new("L", (self.size * 3, self.size * 3), 0)
        ImageDraw.Draw(im).text((self.size, self.size * 2), text, font=font, fill=255, anchor="ls")
        return im.tobytes()

    def has(self, font, text):
        key = (id(font), text)
        if key not in self._has:
            if id(font) not in self._notdef:
                self._notdef[id(font)] = self._render(font, "\U0010FFFF")
            self._has[key] = self._render(font, text) != self._notdef[id(font)]
        return self._has[key]

    def pick(self, text, bold, italic):
        """(font, is_fallback) for a cell's text."""
        face = self.faces[(bold, italic)]
        if self.has(face, text):
            return face, False
        plain = self.faces[(False, False)]
        if self.has(plain, text):
            return plain, False
        fb = self.fallback[bold]
        if self.has(fb, text):
            return fb, True
        return face, False


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def render(rows, cols, nrows, out_path, font_size=FONT_SIZE):
    fonts = Fonts(font_size)
    cw = fonts.advance
    chh = int(round(font_size * 1.2))
    shapes = Shapes(cw, chh)
    # Baseline so that ascent + descent is centred in the cell.
    baseline = (chh - (fonts.ascent + fonts.descent)) // 2 + fonts.ascent

    width = cols * cw + 2 * PADDING
    height = nrows * chh + 2 * PADDING
    img = Image.new("RGB", (width, height), DEFAULT_BG)
    draw = ImageDraw.Draw(img)

    # Normalise the grid to nrows x cols.
    grid = []
    for r in range(nrows):
        row = rows[r] if r < len(rows) else []
        row = row[:cols]
        if row and row[-1].width == 2:
            # A wide character cut in half at the right edge.
            row[-1] = Cell(" ", row[-1].style)
        while len(row) < cols:
            row.append(Cell(" ", None))
        grid.append(row)

    # Pass 1: backgrounds.
    for r, row in enumerate(grid):
        y = PADDING + r * chh
        for c, cell in enumerate(row):
            fg, bg, *_ = resolve(cell.style)
            if bg != DEFAULT_BG:
                x = PADDING + c * cw
                draw.rectangle((x, y, x + cw - 1, y + chh - 1), fill=bg)

    # Pass 2: glyphs.
    for r, row in enumerate(grid):
        y = PADDING + r * chh
        for c, cell in enumerate(row):
            if cell.cont:
                continue
            fg, bg, bold, italic, underline, strike, hidden = resolve(cell.style)
            x = PADDING + c * cw
            text = cell.text
            span = cw * max(1, cell.width)
            if not hidden and text and text != " ":
                m = shapes.mask(text[0]) if len(text) == 1 else None
                if m is not None:
                    img.paste(fg, (x, y), m)
                else:
                    font, fallback = fonts.pick(text, bold, italic)
                    adv = font.getlength(text)
                    gx = x
                    if fallback or cell.width == 2 or adv > span + 0.5:
                        gx = x + (span - adv) / 2.0
                    if adv > span + 1:
                        # Too wide for its cells: squeeze it in so it does not
                        # spill over a neighbour.
                        g = Image.new("L", (int(adv) + 4, chh), 0)
                        ImageDraw.Draw(g).text((2, baseline), text, font=font, fill=255, anchor="ls")
                        g = g.resize((span, chh), Image.Resampling.LANCZOS)
                        img.paste(fg, (x, y), g)
                    else:
                        draw.text((gx, y + baseline), text, font=font, fill=fg, anchor="ls")
            if underline:
                uy = y + min(chh - 1, baseline + max(1, fonts.descent // 2))
                draw.rectangle((x, uy, x + span - 1, uy), fill=fg)
            if strike:
                sy = y + baseline - fonts.ascent // 3
                draw.rectangle((x, sy, x + span - 1, sy), fill=fg)

    img.save(out_path, optimize=True)
    return img.size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", help="output of tmux capture-pane -p -e")
    ap.add_argument("out", help="PNG to write")
    ap.add_argument("--cols", type=int, help="columns (default: widest line)")
    ap.add_argument("--rows", type=int, help="rows (default: number of lines)")
    ap.add_argument("--font-size", type=int, default=FONT_SIZE, help="font size in px (15)")
    args = ap.parse_args(argv)
    with open(args.capture, encoding="utf-8", errors="replace") as f:
        text = f.read()
    rows = parse_capture(text)
    cols = args.cols if args.cols else max([len(r) for r in rows] or [1])
    nrows = args.rows if args.rows else max(1, len(rows))
    if cols < 1 or nrows < 1:
        ap.error("--cols and --rows must be positive")
    size = render(rows, max(1, cols), nrows, args.out, args.font_size)
    print(f"{args.out}: {size[0]}x{size[1]} px, {cols}x{nrows} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
