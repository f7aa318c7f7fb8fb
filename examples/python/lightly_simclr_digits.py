"""SimCLR from lightly on scikit-learn's digits, monitored live by sslwatch.

A real client of the Python writer: the model, loss and augmentations are
lightly's (an independent SSL library), the data is scikit-learn's
``load_digits`` (1,797 8x8 images, shipped with scikit-learn: no download),
and every few epochs the backbone and projector embeddings of all 1,797
images go to sslwatch through ``sslwatch.Writer``::

    pip install sslwatch torch torchvision lightly scikit-learn
    python examples/python/lightly_simclr_digits.py --root runs
    sslwatch watch runs            # in another terminal (tmux pane), live
    sslwatch report runs --layer h # afterwards, as a table

Small enough for a laptop CPU (a few minutes on two cores).
"""

import argparse
import math
import time

import numpy as np
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn
from torchvision import transforms as T

import sslwatch

SIZE = 16  # digits are upsampled from 8x8 so lightly's crops have room


def digit_images():
    digits = load_digits()
    pixels = (digits.images / 16.0 * 255).astype(np.uint8)
    images = [Image.fromarray(p).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB") for p in pixels]
    return images, digits.target.astype(np.int64)


class Views(torch.utils.data.Dataset):
    """(two augmented views, label) for training, or (one plain view, label)."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def backbone(width=16):
    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )

    return nn.Sequential(
        block(3, width),
        nn.MaxPool2d(2),  # 8x8
        block(width, 2 * width),
        nn.MaxPool2d(2),  # 4x4
        block(2 * width, 4 * width),
        block(4 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),  # h: 64
    )


class SimCLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = backbone()
        self.projection_head = SimCLRProjectionHead(64, 64, 32)

    def forward(self, x):
        return self.projection_head(self.backbone(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="runs", help="sslwatch root (default: runs)")
    ap.add_argument("--run", default="digits/simclr-lightly", help="run name under ROOT")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--milestone-every", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    images, labels = digit_images()
    augment = SimCLRTransform(
        input_size=SIZE,
        min_scale=0.3,
        cj_prob=0.8,
        cj_strength=0.5,
        random_gray_scale=0.0,
        gaussian_blur=0.0,
        hf_prob=0.0,
        vf_prob=0.0,
        rr_prob=0.0,  # digits: no flips or blur
    )
    plain = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_NORMALIZE["mean"], IMAGENET_NORMALIZE["std"])])
    train = torch.utils.data.DataLoader(
        Views(images, labels, augment),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    evaluation = torch.utils.data.DataLoader(Views(images, labels, plain), batch_size=512)  # fixed order

    model = SimCLR()
    criterion = NTXentLoss(temperature=args.temperature)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps = args.epochs * len(train)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))

    meta = {
        "method": "simclr",
        "library": "lightly",
        "dataset": "sklearn-digits",
        "arch": "convnet-4",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "temperature": args.temperature,
        "seed": args.seed,
    }
    writer = sslwatch.Writer(f"{args.root}/{args.run}", meta=meta, labels=labels)  # line 1

    def milestone(epoch):
        arrays, _ = sslwatch.embed(model, evaluation, layers={"h": "backbone", "z": "projection_head"})
        writer.milestone(epoch, **arrays)  # line 2
        print(f"milestone epoch_{epoch:04d}: h {arrays['h'].shape}, z {arrays['z'].shape}", flush=True)

    print(f"{len(images)} images, {len(train)} batches/epoch, writing {writer.run_dir}", flush=True)
    milestone(0)
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0, total = time.perf_counter(), 0.0
        for (x0, x1), _ in train:
            loss = criterion(model(x0), model(x1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        seconds = time.perf_counter() - t0
        writer.scalars(epoch, loss=total / len(train), lr=sched.get_last_lr()[0], epoch_seconds=seconds)
        print(f"epoch {epoch}/{args.epochs}: loss {total / len(train):.4f}, {seconds:.1f} s", flush=True)
        if epoch % args.milestone_every == 0 or epoch == args.epochs:
            milestone(epoch)
    writer.close()
    print(f"done: {args.epochs} epochs in {writer.run_dir}")


if __name__ == "__main__":
    main()
