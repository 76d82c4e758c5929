"""Options of ``karma build`` and the hosts and file types it skips (after WebText and OpenWebText)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corpus_forge.config import StageConfig

# Reddit's own hosts: links to other threads, uploads and redirects, not outside pages.
REDDIT_DOMAINS: frozenset[str] = frozenset(
    {"reddit.com", "redd.it", "redditmedia.com", "reddituploads.com", "redditstatic.com", "reddit.app.link"}
)
# Image, video and audio hosts (after OpenWebText's exclude list): pages with no text to extract.
IMAGE_HOSTS: frozenset[str] = frozenset(
    {
        "imgur.com", "gfycat.com", "giphy.com", "redgifs.com", "flickr.com", "flic.kr", "staticflickr.com",
        "twimg.com", "tinypic.com", "photobucket.com", "postimg.cc", "postimages.org", "ibb.co",
        "imgbox.com", "gyazo.com", "imgflip.com", "prnt.sc", "sli.mg", "magaimg.net", "instagram.com",
        "deviantart.com", "pinterest.com", "youtube.com", "youtu.be", "vimeo.com", "streamable.com",
        "twitch.tv", "soundcloud.com", "bandcamp.com",
    }
)
MEDIA_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".tif", ".tiff", ".svg",
    ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".ogv", ".flac",
)
DELETED_BY = frozenset({"deleted", "author"})  # removed_by_category values meaning the author deleted it


class KarmaBuildConfig(StageConfig):
    """Options of ``karma build`` (keys as in a recipe's ``karma:`` block)."""

    min_karma: int = Field(3, description="keep URLs whose karma is at least this (WebText: 3)")
    aggregate: Literal["best", "sum"] = Field(
        "best", description="best single post (WebText/OpenWebText) or sum over posts (OpenWebText2)")
    drop_self_posts: bool = Field(True, description="skip text posts, which link no outside page (WebText)")
    drop_nsfw: bool = Field(True, description="skip posts marked NSFW (over_18; OpenWebText)")
    drop_deleted: bool = Field(True, description="drop posts deleted by their author or removed by mods")
    drop_reddit_internal: bool = Field(True, description="skip links to Reddit's own hosts (reddit.com, redd.it, "
                                                          "...)")
    drop_image_hosts: bool = Field(True, description="skip links to image, video and audio hosts and to media "
                                                     "files (after OpenWebText's exclude list)")
    top_subreddits: int = Field(3, ge=0, description="subreddits kept per URL, by number of posts")
    flush_rows: int = Field(100_000, gt=0, description="submissions scanned at a time; up to 8x this many "
                                                       "posts are buffered before they are aggregated")
    chunk_bytes: int = Field(4 << 20, gt=0, description="decompressed bytes decoded at a time")


def excluded_domains(config: KarmaBuildConfig) -> dict[str, str]:
    """The domains the options exclude (subdomains match too), each with its skip reason."""
    reasons: dict[str, str] = {}
    if config.drop_image_hosts:
        reasons.update(dict.fromkeys(IMAGE_HOSTS, "image_host"))
    if config.drop_reddit_internal:
        reasons.update(dict.fromkeys(REDDIT_DOMAINS, "reddit_internal"))
    return reasons
