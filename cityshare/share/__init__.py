"""The consumer-facing service: portal and API (``cityshare serve``)."""
