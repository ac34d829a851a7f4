"""CLI sub-commands: Embeddings, t-SNE and nearest-neighbour retrieval.

    python main.py embed SOURCE [--dataset PATH] [--split test] --out emb.npz
    python main.py tsne EMB.npz [--perplexity 30] [--pca] --out coords.csv
    python main.py retrieve SOURCE IMAGE [--dataset PATH] [-k 8]

SOURCE is a run folder (supervised or self-supervised) or a registry model
name (with ``--pretrained none|imagenet`` and ``--image-size``).
"""

from __future__ import annotations

import sys

from engine.cli.commands import _cancel_on_sigint, _progress
from engine.io_utils import display_path


def _source_args(p) -> None:
    from engine.options import EmbedOptions
    from engine.schema import choices

    p.add_argument("source", help="run folder (supervised or SSL) or model name, e.g. resnet18")
    p.add_argument("--dataset", help="dataset folder or CSV (default: the run's own images)")
    p.add_argument("--split", choices=choices(EmbedOptions, "split"), help="only this split of the run's own images")
    p.add_argument("--pretrained", default="none", help="for a model name: none or imagenet (default none)")
    p.add_argument("--image-size", type=int, default=224, help="for a model name: input size (default 224)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--batch-size", type=int, default=64)


def _options(args):
    """The embedding options given on the command line, validated (ConfigError naming the option)."""
    from engine.options import EmbedOptions
    from engine.schema import validate

    given = {"split": args.split, "pretrained": args.pretrained, "image_size": args.image_size,
             "device": args.device, "batch_size": args.batch_size, "k": getattr(args, "k", 8)}
    return validate(EmbedOptions, given, args.command)


def cmd_embed(args) -> int:
    """Compute the embeddings of a run or model on a dataset and save them as .npz."""
    from engine.embed.extract import extract_embeddings

    opts = _options(args)
    emb = extract_embeddings(args.source, args.dataset, split=opts.split, batch_size=opts.batch_size,
                             device=opts.device, pretrained=opts.pretrained, image_size=opts.image_size,
                             progress=_progress(args), cancel=_cancel_on_sigint())
    emb.save(args.out)
    print(f"{len(emb)} embeddings of dimension {emb.dim} written to {display_path(args.out)}", file=sys.stderr)
    return 0


def cmd_tsne(args) -> int:
    """2-D map (t-SNE, or PCA with --pca) of saved embeddings, written as CSV path,label,x,y."""
    from engine.embed.embeddings import Embeddings
    from engine.embed.tsne import pca_2d, tsne

    emb = Embeddings.load(args.embeddings)
    if args.pca:
        coords, note = pca_2d(emb.features), "PCA"
    else:
        res = tsne(emb.features, perplexity=args.perplexity, n_jobs=args.jobs, seed=args.seed,
                   n_iter=args.iterations, early_exaggeration_iter=args.early_iterations,
                   progress=_progress(args), cancel=_cancel_on_sigint())
        coords, note = res.coords, f"t-SNE, KL divergence {res.kl_divergence:.4f}" if res.kl_divergence else "t-SNE"
    out = emb.write_csv(args.out, coords)
    print(f"{len(emb)} points ({note}) written to {display_path(out)}", file=sys.stderr)
    return 0


def cmd_retrieve(args) -> int:
    """Print the k images most similar to IMAGE (similarity, label, path), best first."""
    from engine.embed.retrieval import retrieve

    opts = _options(args)
    matches = retrieve(args.source, args.dataset, args.image, opts.k, split=opts.split, device=opts.device,
                       pretrained=opts.pretrained, image_size=opts.image_size, progress=_progress(args),
                       cancel=_cancel_on_sigint())
    for m in matches:
        print(f"{m.similarity:.4f}\t{m.label}\t{display_path(m.path)}")
    return 0


def _add_embed(sub) -> None:
    p = sub.add_parser("embed", help="embeddings (pooled features) of a run or model on a dataset")
    _source_args(p)
    p.add_argument("--out", required=True, help="output .npz file")
    p.set_defaults(func=cmd_embed)


def _add_tsne(sub) -> None:
    p = sub.add_parser("tsne", help="2-D t-SNE map of saved embeddings as CSV (path,label,x,y,...)")
    p.add_argument("embeddings", help=".npz written by 'embed'")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--jobs", type=int, default=-1, help="threads (-1 = all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=500, help="iterations after early exaggeration (default 500)")
    p.add_argument("--early-iterations", type=int, default=250, help="early exaggeration iterations (default 250)")
    p.add_argument("--pca", action="store_true", help="PCA map instead of t-SNE (instant)")
    p.add_argument("--out", required=True, help="output CSV")
    p.set_defaults(func=cmd_tsne)


def _add_retrieve(sub) -> None:
    p = sub.add_parser("retrieve", help="the k most similar images of a dataset to an image")
    _source_args(p)
    p.add_argument("image", help="query image file")
    p.add_argument("-k", type=int, default=8, help="number of images (default 8)")
    p.set_defaults(func=cmd_retrieve)


REGISTRARS: list = [_add_embed, _add_tsne, _add_retrieve]
