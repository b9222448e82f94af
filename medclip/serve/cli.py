"""``medclip-serve``: load models and run the service (API + browser app) with uvicorn.

medclip-serve --model runs/demo/checkpoints/latest.pt --port 8000
medclip-serve --model demo=runs/demo/checkpoints/latest.pt --model ViT-B-16 --max-batch 32
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..cli_common import HelpFormatter, cli_device
from .config import ServeConfig


def build_parser() -> argparse.ArgumentParser:
    d = ServeConfig()
    p = argparse.ArgumentParser(prog="medclip-serve", description=__doc__.split("\n")[0], formatter_class=HelpFormatter)
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[ID=]SPEC",
        help="checkpoint, export folder, open_clip name, hf-hub:..., local-dir:...; repeat for more "
        "(the first is the default); ID= sets the id clients use",
    )
    p.add_argument("--pretrained", default=None, help="weights for an open_clip model name (all --model names)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (printed)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (a missing GPU is a one-line error)")
    p.add_argument("--max-batch", type=int, default=d.max_batch, help="most images per model call")
    p.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms, help="longest wait for a batch to fill")
    p.add_argument("--timeout-s", type=float, default=d.timeout_s, help="per-request time limit")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20, help="largest request body")
    p.add_argument("--max-pixels", type=int, default=d.max_pixels, help="largest image (rows x columns x frames)")
    p.add_argument(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="require header X-API-Key equal to the value of environment variable VAR",
    )
    p.add_argument("--cors-origin", action="append", default=[], help="allow this origin (CORS is off by default)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--log-level", default="info", help="uvicorn / logging level")
    return p


def config_from_args(args) -> ServeConfig:
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise SystemExit(f"medclip-serve: error: environment variable {args.api_key_env} is empty or unset")
    return ServeConfig(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        timeout_s=args.timeout_s,
        api_key=api_key,
        cors_origins=tuple(args.cors_origin),
    )


def load_runtimes(specs: list[str], config: ServeConfig, *, pretrained=None, device="cpu"):
    from .runtime import ModelRuntime

    out = []
    for spec in specs:
        mid, _, path = (
            spec.partition("=") if "=" in spec and not spec.startswith(("hf-hub:", "local-dir:")) else (None, "", spec)
        )
        rt = ModelRuntime.load(path, config, model_id=mid, pretrained=pretrained, device=device)
        if any(r.id == rt.id for r in out):
            rt.id = f"{rt.id}-{len(out)}"
        out.append(rt)
    return out


def cli(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        print("medclip-serve: error: install the serving extra: pip install 'medclip[serve]'", file=sys.stderr)
        return 2
    config = config_from_args(args)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = config.max_pixels  # Pillow's bomb check, behind the header check of every upload
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from .app import create_app

    try:
        device = str(cli_device(args.device))
        runtimes = load_runtimes(args.model, config, pretrained=args.pretrained, device=device)
    except (ValueError, FileNotFoundError) as e:
        hint = " (`make demo` trains it)" if "runs/demo/" in str(e) else ""
        print(f"medclip-serve: error: {e}{hint}", file=sys.stderr)
        return 2
    app = create_app(runtimes, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=args.host, port=args.port, log_level=args.log_level, timeout_keep_alive=5, limit_concurrency=1024
        )
    )
    _announce(server)
    server.run()
    return 0


def _announce(server) -> None:
    """Print ``medclip-serve: listening on http://HOST:PORT`` once bound (the real port when --port 0)."""
    orig = server.startup

    async def startup(sockets=None):
        await orig(sockets=sockets)
        for s in server.servers:
            for sock in s.sockets:
                host, port = sock.getsockname()[:2]
                print(f"medclip-serve: listening on http://{host}:{port}", flush=True)

    server.startup = startup


if __name__ == "__main__":
    sys.exit(cli())
