#!/usr/bin/env python3
"""Builds the training conversations for the tiny chat model from Debian documentation packages.

Data recipe (all freely licensed, see LICENSES.md): on Debian 12,
  apt-get install debian-faq debian-reference-en python3.11-doc
then
  python3 models/gemma4-tiny-chat/make_data.py build/tiny-chat/data.jsonl

Each output line is {"messages": [{"role": "user"|"model"|"system", "content": ...}, ...]}:
a question (a FAQ question, or a request about a section heading) answered with the section's
first paragraphs, plus a few hand-written greetings. Only the standard library is used.
"""
import glob
import gzip
import json
import random
import re
import sys

PYTHON_DOCS = "/usr/share/doc/python3.11/html/_sources"
DEBIAN_FAQ = "/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz"
DEBIAN_REFERENCE = "/usr/share/debian-reference/debian-reference.en.txt.gz"

RST_UNDERLINE = re.compile(r'^([=\-~^*"+#`])\1{2,}\s*$')


def clean_inline(text):
    text = re.sub(r":[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1", text)  # :role:`text <target>`
    text = re.sub(r"`([^`<]+?)\s*<[^>]*>`_+", r"\1", text)                # `text <url>`_
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`]+)`_*", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"(?<!\w)\*([^*\s][^*]*)\*", r"\1", text)
    text = re.sub(r"\(https?://[^)]*\)", "", text)
    text = re.sub(r"https?://\S+", "", text)
    text = text.replace("\u00a0", " ").replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([.,;:])", r"\1", text)


def is_prose(paragraph):
    if len(paragraph) < 60 or len(paragraph) > 1200:
        return False
    if any(marker in paragraph for marker in (">>>", "::", "|", "+--", "$ ", "# ", "{", "}", "()")):
        return False
    words = paragraph.split()
    letters = sum(ch.isalpha() for ch in paragraph)
    return len(words) >= 10 and letters > 0.75 * len(paragraph.replace(" ", "")) and paragraph[-1] in ".!?"


def rst_sections(path):
    """(heading, [paragraphs]) for each section of a reStructuredText file."""
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    sections, heading, block, paragraphs = [], None, [], []

    def flush_block():
        if block and not block[0].startswith((" ", "\t", "..")):
            paragraphs.append(clean_inline(" ".join(block)))
        block.clear()

    for i, line in enumerate(lines):
        if i + 1 < len(lines) and RST_UNDERLINE.match(lines[i + 1]) and line.strip() and not RST_UNDERLINE.match(line):
            flush_block()
            if heading:
                sections.append((heading, paragraphs))
            heading, paragraphs = clean_inline(line), []
        elif RST_UNDERLINE.match(line):
            continue
        elif not line.strip():
            flush_block()
        else:
            block.append(line)
    flush_block()
    if heading:
        sections.append((heading, paragraphs))
    return sections


def text_sections(path):
    """(heading, [paragraphs]) for the numbered sections of Debian's plain-text manuals."""
    text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read().replace("\u00a0", " ")
    sections, heading, block, paragraphs = [], None, [], []

    def flush_block():
        if block:
            paragraphs.append(clean_inline(" ".join(block)))
        block.clear()

    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        numbered = re.match(r"^(\d+(?:\.\d+)*)\.?\s+(\S.*)$", line)
        if numbered and not line.startswith(" "):
            flush_block()
            if heading:
                sections.append((heading, paragraphs))
            title = numbered.group(2)
            while i + 1 < len(lines) and lines[i + 1].strip() and not lines[i + 1].startswith("    "):
                i += 1
                title += " " + lines[i].strip()
            heading, paragraphs = clean_inline(title), []
        elif not line.strip():
            flush_block()
        elif line.startswith("    ") and not line.startswith("      ") and heading:
            block.append(line.strip())
        else:
            flush_block()
        i += 1
    flush_block()
    if heading:
        sections.append((heading, paragraphs))
    return sections


def question_for(heading, rng):
    if heading.endswith("?"):
        return heading
    topic = heading.rstrip(".:")
    topic_lower = topic[0].lower() + topic[1:] if topic[:2] != topic[:2].upper() else topic
    return rng.choice([f"Tell me about {topic_lower}.", f"What can you tell me about {topic_lower}?",
                       f"Explain {topic_lower}.", f"Can you explain {topic_lower}?", f"{topic}?"])


GREETINGS = [
    ("Hello!", "Hello! I am a very small language model trained on Debian and Python documentation. "
               "Ask me about Debian packages or the Python language."),
    ("Hi", "Hi! I can talk a little about Debian and Python. What would you like to know?"),
    ("Who are you?", "I am a tiny demonstration model in the Gemma 4 architecture, made for the strix "
                     "library. I learned from Debian and Python manuals, so do not expect too much."),
    ("What can you do?", "I can answer simple questions about Debian and the Python language in plain "
                         "English. I am small, so my answers may be wrong."),
    ("Thank you.", "You are welcome. Ask me anything else about Debian or Python."),
    ("Goodbye", "Goodbye! Have a nice day."),
    ("How are you?", "I am fine, thank you. I am ready to answer questions about Debian and Python."),
]


FOLLOW_UPS = ["Tell me more.", "Go on.", "What else?", "Can you say more about that?", "And then?"]


def thought_for(question, answer):
    first = answer.split(". ")[0].rstrip(".")
    return f"The user asks: {question} The manual says that {first[0].lower() + first[1:]}. I will answer with that."


def conversations(rng):
    sections = []
    for pattern in ("faq/*.rst.txt", "tutorial/*.rst.txt", "howto/*.rst.txt", "reference/*.rst.txt",
                    "using/*.rst.txt", "glossary.rst.txt", "library/*.rst.txt", "extending/*.rst.txt",
                    "installing/*.rst.txt", "distributing/*.rst.txt"):
        for path in sorted(glob.glob(f"{PYTHON_DOCS}/{pattern}")):
            sections += rst_sections(path)
    sections += text_sections(DEBIAN_FAQ) + text_sections(DEBIAN_REFERENCE)
    for heading, paragraphs in sections:
        prose = [p for p in paragraphs if is_prose(p)]
        if not prose or len(heading) < 4 or len(heading) > 120:
            continue
        answers = []
        while prose and len(answers) < 6:
            take = rng.choice((1, 1, 2))
            answers.append(" ".join(prose[:take]))
            prose = prose[take:]
        for question in dict.fromkeys((question_for(heading, rng), question_for(heading, rng))):
            yield from dialogues(question, answers, rng)
    for _ in range(40):
        for question, answer in GREETINGS:
            yield [{"role": "user", "content": question}, {"role": "model", "content": answer}]


def dialogues(question, answers, rng):
    """One question answered with the first chunk; the later chunks answer follow-up requests."""
    follow_ups = []
    for answer in answers[1:]:
        follow_ups += [{"role": "user", "content": rng.choice(FOLLOW_UPS)}, {"role": "model", "content": answer}]
    roll = rng.random()
    if roll < 0.1:
        yield [{"role": "system", "content": "<|think|>"}, {"role": "user", "content": question},
               {"role": "model", "thought": thought_for(question, answers[0]), "content": answers[0]}]
    elif roll < 0.2:
        yield [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": question}, {"role": "model", "content": answers[0]}] + follow_ups
    else:
        yield [{"role": "user", "content": question}, {"role": "model", "content": answers[0]}] + follow_ups


def main():
    rng = random.Random(1234)
    items = list(conversations(rng))
    rng.shuffle(items)
    # Two-turn dialogues teach the model to continue after a replayed answer.
    merged = []
    for i in range(0, len(items) - 1, 2):
        a, b = items[i], items[i + 1]
        if rng.random() < 0.3 and a[0]["role"] == "user" and b[0]["role"] == "user":
            merged.append(a + b)
        else:
            merged += [a, b]
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        for messages in merged:
            out.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
    print(f"{len(merged)} conversations, {sum(len(json.dumps(m)) for m in merged) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
