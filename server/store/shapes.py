"""The JSON shapes of the API's objects (docs/API.md), one TypedDict each.
Events carry the same shapes, so every client renders both one way."""

# Annotations are evaluated here (no __future__ import): on Python 3.11, TypedDict
# only honours NotRequired in evaluated annotations.

from typing import NotRequired, TypedDict


class Author(TypedDict):
    username: str | None
    display_name: str


class Article(TypedDict):
    id: int
    message_id: str
    thread_id: int
    group: str
    parent_id: int | None
    references: list[str]
    depth: int
    subject: str
    body: str
    author: Author
    created_at: str
    number: int
    status: str  # ok, cancelled or notice
    utc_offset: int  # minutes east of UTC where it was written (an imported Date's); 0 for local posts
    notice: NotRequired[
        dict
    ]  # {action, thread_id, count} on a moderation notice; {action: missing} on a placeholder
    edited_at: NotRequired[str]  # when its author last edited it


class SplitFrom(TypedDict):
    thread_id: int
    article_id: int


class Thread(TypedDict):
    id: int
    group: str
    subject: str
    state: str  # open, locked or archived
    article_count: int
    last_article_at: str
    created_at: str
    root_article_id: int | None
    archived_at: str | None
    is_reference: bool
    split_from: NotRequired[SplitFrom]
    merged_into: NotRequired[int]
    continued_from: NotRequired[int]


class GroupModerator(TypedDict):
    username: str
    display_name: str
    since: str  # when they became one of its moderators


class Group(TypedDict):
    name: str
    description: str
    charter: str
    status: str  # y, n or m
    thread_count: int
    article_count: int
    last_article_at: str | None
    created_at: str
    archive_after_days: int | None
    archive_after_articles: int | None
    stranger_mail: str  # bounce or moderate: what becomes of mail from non-members
    # its own moderators (one group's JSON and group.updated; not in lists)
    moderators: NotRequired[list[GroupModerator]]
    review_new: bool  # new accounts' posts wait for its moderators (server/stewardship/review.py)
