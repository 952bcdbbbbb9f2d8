"""Terraform stacks: one for the home region, one per target region, and the replication between them."""

from stacks.app import RelayApp, build_app
from stacks.home import HomeStack
from stacks.replication import ReplicationStack
from stacks.target import TargetStack

__all__ = ["HomeStack", "RelayApp", "ReplicationStack", "TargetStack", "build_app"]
