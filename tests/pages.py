"""Reading a saved page as a browser would (an HTML5 parser), and checking that it can run nothing and load
nothing: the tests of the page writer, of the REPL and of the installed program share these."""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

import html5lib

from kimi_repl.page import POLICY

ELEMENTS = frozenset(
    {
        *("html", "head", "meta", "title", "style", "body", "header", "main", "article", "footer"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div", "span", "a", "dl", "dt", "dd"),
        *("blockquote", "details", "summary", "pre", "code", "em", "strong", "del", "ul", "ol", "li"),
        *("table", "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption"),
    }
)
"""Every element the page writer makes: a page with any other (script, iframe, form, svg, ...) fails."""
ATTRIBUTES = frozenset({"class", "id", "href", "start", "src", "alt", "charset", "http-equiv", "content", "name"})
FORBIDDEN = frozenset({"script", "iframe", "object", "embed", "form", "base", "link", "frame", "input", "button"})
PICTURE = re.compile(
    r"data:image/(?:png|jpeg|webp|gif);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
)
META = {
    ("charset", "utf-8"),
    ("http-equiv", "Content-Security-Policy"),
    ("name", "referrer"),
    ("name", "viewport"),
    ("name", "color-scheme"),
    ("name", "generator"),
}


def parsed(page: str) -> Element:
    """The document a browser builds from ``page``."""
    document: Element = html5lib.parse(page, namespaceHTMLElements=False)
    return document


def problems(page: str) -> list[str]:
    """Everything in ``page`` that could run script or load something (or that the writer never makes)."""
    document = parsed(page)
    found = []
    styles = 0
    for element in document.iter():
        tag = str(element.tag)
        if tag not in ELEMENTS or tag in FORBIDDEN:
            found.append(f"element {tag}")
        styles += tag == "style"
        if tag == "style" and re.search(r"url\(|@import|expression|javascript:|\\", element.text or "", re.I):
            found.append("a style that loads or runs something")
        for name, value in element.attrib.items():
            found += [f"{tag}[{name}={value[:60]!r}]" for why in _attribute_problems(tag, str(name), value) if why]
        if tag == "meta" and not any(
            (key, element.attrib.get(key)) in META for key in ("charset", "http-equiv", "name")
        ):
            found.append(f"meta {element.attrib}")
    head = document.find("head")
    first = list(head)[:2] if head is not None else []
    if [e.attrib.get("charset") for e in first[:1]] != ["utf-8"]:
        found.append("no charset first")
    if len(first) < 2 or first[1].attrib.get("http-equiv") != "Content-Security-Policy":
        found.append("no Content-Security-Policy right after it")
    elif first[1].attrib.get("content") != POLICY:
        found.append("another policy")
    if styles != 1:
        found.append(f"{styles} style elements")
    return found


def _attribute_problems(tag: str, name: str, value: str) -> list[bool]:
    lowered = name.lower()
    return [
        lowered not in ATTRIBUTES or lowered.startswith("on") or lowered == "style",
        lowered == "href" and not (tag == "a" and re.fullmatch(r"#turn-\d+", value)),
        lowered == "src" and not (tag == "img" and PICTURE.fullmatch(value)),
        lowered == "start" and not value.isdigit(),
        lowered == "http-equiv" and value.lower() != "content-security-policy",
        lowered == "content" and tag != "meta",
    ]


def visible_text(page: str) -> str:
    """The text of the page's body, its white space made single spaces."""
    body = parsed(page).find("body")
    return " ".join("".join(body.itertext()).split()) if body is not None else ""


def title_of(page: str) -> str:
    element = parsed(page).find("head/title")
    return element.text or "" if element is not None else ""


def shown(text: str) -> str:
    """``text`` as the page shows it: white space made single spaces."""
    return " ".join(text.split())


def elements(page: str, tag: str) -> list[Any]:
    return list(parsed(page).iter(tag))
