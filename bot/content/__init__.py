"""The guide: its typed model, and loading plus validation of `content/`."""

from bot.content.load import (
    MAX_STEP_CHARS,
    REFERENCE,
    ContentError,
    default_content_dir,
    load_guide,
    load_guides,
)
from bot.content.model import (
    Guide,
    Guides,
    Messages,
    Part,
    Resource,
    ResourceKind,
    Step,
    StepKind,
)

__all__ = [
    "MAX_STEP_CHARS",
    "REFERENCE",
    "ContentError",
    "Guide",
    "Guides",
    "Messages",
    "Part",
    "Resource",
    "ResourceKind",
    "Step",
    "StepKind",
    "default_content_dir",
    "load_guide",
    "load_guides",
]
