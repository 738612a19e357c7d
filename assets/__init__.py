"""Thin Dagster assets: each reads through a resource, calls the core, writes, reports."""
