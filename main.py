#!/usr/bin/env python
"""Entry point of `cdktf synth|deploy|diff`: validate the configuration, then wire it to stacks."""

import sys

from config import ConfigError, load_config


def main() -> int:
    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    # Imported after validation: loading the AWS bindings takes seconds, a bad config should not.
    from stacks import build_app

    app, _, _ = build_app(config)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
