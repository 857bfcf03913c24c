"""Fly.io sandboxes, driven through flyctl by pulumi-command."""
