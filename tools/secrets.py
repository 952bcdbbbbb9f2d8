"""Give the platform's secrets a first value.

    relay secrets seed [--length 32]

Terraform creates each secret (in home, replicated to every platform region) without a value, so no value
is ever in the code, the plan, the state or an output. `seed` gives every configured secret that has no
value yet a random one (Secrets Manager's GetRandomPassword, in home; its replicas follow) and leaves a
secret that has a value alone. It prints names, never values. Set your own value instead with
`aws secretsmanager put-secret-value --secret-id <name>` in the home region; rotation, when configured,
replaces it on schedule.
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from config import ConfigError, load_config
from tools.release import Clients


def seed(config, clients: Clients, length: int) -> list[tuple[str, str]]:
    """(secret name, what happened) per configured secret."""
    home = config.home_region
    client = clients("secretsmanager", home)
    done = []
    for secret in config.platform.secrets:
        name = config.names.secret(secret.name)
        described = client.describe_secret(SecretId=name)
        if any("AWSCURRENT" in stages for stages in (described.get("VersionIdsToStages") or {}).values()):
            done.append((name, "has a value: left alone"))
            continue
        value = client.get_random_password(PasswordLength=length, ExcludeCharacters="\"'\\`")["RandomPassword"]
        client.put_secret_value(SecretId=name, SecretString=value)
        done.append((name, f"seeded with {length} random characters"))
    return done


def main(argv: list[str] | None = None, *, prog: str = "relay secrets") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["seed"], help="seed: a random first value where there is none")
    parser.add_argument("--length", type=int, default=32, help="characters of a seeded value (default 32, 16..4096)")
    options = parser.parse_args(argv)
    if not 16 <= options.length <= 4096:
        parser.error(f"--length must be 16..4096, got {options.length}")
    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    if not config.platform.enabled or not config.platform.secrets:
        print(f"relay: {config.environment} has no platform secrets (platform.enabled, platform.secrets)")
        return 0
    try:
        for name, outcome in seed(config, Clients(config), options.length):
            print(f"{name}: {outcome}")
    except (ClientError, BotoCoreError) as error:
        print(f"relay: cannot seed the secrets in {config.home_region}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
