"""One module per tab, each exposing TITLE and build(ctx). TABS is the order they appear in."""

from app.tabs import zeroshot
from app.tabs import depthclip
from app.tabs import vild, glip
from app.tabs import vilt
from app.tabs import clipasso
from app.tabs import lseg, groupvit
from app.tabs import pointclip
from app.tabs import actionclip, clip4clip
from app.tabs import compare

TABS = [zeroshot, depthclip, vild, glip, vilt, clipasso, lseg, groupvit, pointclip, actionclip, clip4clip, compare]
