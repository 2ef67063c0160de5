"""Install big model packages once, pinned by name and version, with credentials that never leak."""

__version__ = "0.1.0"
