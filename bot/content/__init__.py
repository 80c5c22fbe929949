"""The guide: its typed model, and loading plus validation of `content/`."""

from bot.content.load import MAX_STEP_CHARS, ContentError, default_content_dir, load_guide
from bot.content.model import Guide, Messages, Part, Resource, ResourceKind, Step, StepKind

__all__ = [
    "MAX_STEP_CHARS",
    "ContentError",
    "Guide",
    "Messages",
    "Part",
    "Resource",
    "ResourceKind",
    "Step",
    "StepKind",
    "default_content_dir",
    "load_guide",
]
