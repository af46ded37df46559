"""Widgets of the app, one per module, each carrying its own `DEFAULT_CSS`."""
