"""Regions: what runs where, and the one factory of aliased AWS providers."""
