"""The Textual dashboard: a thin view of the engine's snapshots and events."""

import os

# How long a lone ESC waits for the rest of a key sequence before it counts as Escape (read by
# Textual at import). Textual's default is 100 ms; a terminal sends a whole sequence in one
# write, so 50 ms (Neovim's `ttimeoutlen`) keeps arrows whole and Escape quick. An `ESCDELAY`
# the user set wins.
os.environ.setdefault("ESCDELAY", "50")
