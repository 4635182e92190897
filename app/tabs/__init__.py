"""One module per tab, each exposing TITLE and build(ctx). TABS is the order they appear in."""

from app.tabs import zeroshot

TABS = [zeroshot]
