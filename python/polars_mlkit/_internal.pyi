"""The compiled extension. Its plugin functions are reached through
``polars.plugins.register_plugin_function``, not called from Python."""

__version__: str
