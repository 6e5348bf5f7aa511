"""Adapter code several plugins share (a plugin never imports a sibling plugin)."""
