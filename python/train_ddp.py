#!/usr/bin/env python3
"""Train a CharLM model file with PyTorch DistributedDataParallel.

Same data layout as `charlm train`: the training split (the first 90%) is
laid out as B contiguous streams, consumed in windows of T characters with
the state carried and detached between windows; the B streams are divided
among the processes, and DDP averages the gradients, so one step equals a
CharLM step on all B streams. Adam, global-norm clipping.

CPU, 2 processes:
    torchrun --nproc_per_node 2 python/train_ddp.py --checkpoint checkpoints/run/best.safetensors \
        --corpus corpora/tinyshakespeare.txt --steps 200 --out checkpoints/run/ddp.safetensors
GPUs, one node (nccl is chosen when CUDA is there):
    torchrun --nproc_per_node 8 python/train_ddp.py ...
Several nodes:
    torchrun --nnodes 4 --node_rank R --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \
        python/train_ddp.py ...
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from charlm_torch import load, save  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="CharLM model file to start from")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True, help="CharLM model file to write")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64, help="streams in all, divided among the processes")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--clip", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    torch.set_num_threads(args.threads)
    if args.batch % world:
        sys.exit(f"--batch {args.batch} must divide evenly among {world} processes")

    model, vocabulary, config = load(args.checkpoint)
    index = {c: i for i, c in enumerate(vocabulary)}
    text = open(args.corpus, encoding="utf-8", newline="").read().lstrip("\ufeff")
    unknown = sorted(set(text) - set(index))
    if unknown:
        sys.exit(f"the corpus has characters outside the model's vocabulary: {unknown[:10]}")
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = len(data)
    train = data[: n - round(n * 0.05) - round(n * 0.05)]
    length = len(train) // args.batch
    mine = args.batch // world
    streams = train[: args.batch * length].view(args.batch, length)[rank * mine:(rank + 1) * mine].t().contiguous()
    windows = (length - 1) // args.window

    model.to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    state, position, start = None, 0, time.time()
    for step in range(1, args.steps + 1):
        if position >= windows:
            position, state = 0, None
        t0 = position * args.window
        x = streams[t0:t0 + args.window].to(device)
        y = streams[t0 + 1:t0 + args.window + 1].to(device)
        logits, state = ddp(x, state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = loss_fn(logits.reshape(-1, len(vocabulary)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp.parameters(), args.clip)
        optimizer.step()
        position += 1
        if rank == 0 and (step % 50 == 0 or step == args.steps):
            speed = step * args.batch * args.window / (time.time() - start)
            print(f"step {step}  loss {loss.item():.4f}  {speed:,.0f} chars/s over {world} processes", flush=True)
    if rank == 0:
        save(model.to("cpu"), vocabulary, config, args.out)
        print(f"saved {args.out}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
