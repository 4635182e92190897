"""One module per tab, each exposing TITLE and build(ctx). TABS is the order they appear in: the
basics first, then the ten methods in the order the project lists them, then the side-by-side board."""

from app.tabs import (
    actionclip,
    clip4clip,
    clipasso,
    compare,
    depthclip,
    glip,
    groupvit,
    lseg,
    pointclip,
    train,
    vild,
    vilt,
    zeroshot,
)

TABS = [zeroshot, train, actionclip, clip4clip, clipasso, depthclip, groupvit, lseg, pointclip, vild, glip, vilt, compare]
