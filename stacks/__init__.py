"""Terraform stacks: one for the home region, one per target region."""

from stacks.app import build_app
from stacks.home import HomeStack
from stacks.target import TargetStack

__all__ = ["HomeStack", "TargetStack", "build_app"]
