"""The one exception type a user ever sees.

Anything the user can fix (a bad config key, a missing corpus, a checkpoint of another model)
is raised as `UserError` with a one-line message naming the file/line/key and what to do.
The CLI prints it on stderr as `error: <message>` and exits with code 1; no traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input, reported as one clear line."""
