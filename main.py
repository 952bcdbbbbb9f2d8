#!/usr/bin/env python
"""Entry point of `cdktf synth|deploy|diff`: validate the configuration, then wire it to stacks."""

import argparse
import sys

from config import ConfigError, load_config


def main(argv: list[str] | None = None, *, prog: str = "python main.py") -> int:
    """Synthesize every stack into cdktf.out/; exit 2 with one message when the configuration is bad."""
    argparse.ArgumentParser(
        prog=prog,
        description="Validate the configuration of RELAY_ENV (with RELAY_OVERRIDES) and synthesize every stack "
        "into cdktf.out/. A bad configuration exits 2 with one message listing every problem.",
    ).parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    # Imported after validation: loading the AWS bindings takes seconds, a bad config should not.
    from stacks import build_app

    build_app(config).app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
