"""The Textual dashboard: a thin layer over the engine."""

import os

# How long a lone Escape waits for the rest of a key sequence (an arrow key is ESC [ A) before
# it counts as Escape. Textual's 100 ms made closing a panel feel slow; 50 ms is neovim's
# default and still holds a sequence split in two by a slow link. ESCDELAY set by the user wins.
os.environ.setdefault("ESCDELAY", "50")
