"""Files a person can take elsewhere: each tab's answer in the format the tools that consume it read.

One module per kind of answer, UI-free (the tabs only hand over the answer and offer the file):
`coco` (boxes as COCO-format JSON), `maps` (label maps as indexed PNG with a legend, depth as 16-bit
PNG and `.npy`), `tables` (rankings and figures as CSV).
"""
