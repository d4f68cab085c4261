"""A small instruction pool of clearly different kinds, written from templates (for the pool tests).

Eight kinds (arithmetic word problems, translation requests, poems, code fixes, recipes, sorting lists,
summaries, trivia), each a few sentence templates filled from word lists by a seeded generator, so every
instruction is distinct and its kind is known: the clusters a good embedding and k-means find should be the kinds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ["Ana", "Bilal", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
THINGS = ["apples", "marbles", "stamps", "books", "pencils", "coins", "shells", "cards", "cookies", "stickers"]
LANGS = ["French", "German", "Spanish", "Italian", "Japanese", "Portuguese", "Dutch", "Swedish"]
SENTENCES = ["Where is the train station?", "I would like a cup of coffee.", "The weather is lovely today.",
             "How much does this cost?", "My brother lives in a small village.", "Please close the window.",
             "We are going to the museum tomorrow.", "The library opens at nine."]
TOPICS = ["the sea at dawn", "an old oak tree", "autumn leaves", "a city at night", "the first snow", "a lighthouse",
          "a quiet garden", "the desert wind", "a mountain lake", "falling rain"]
STYLES = ["a haiku", "a sonnet", "free verse", "a limerick", "rhyming couplets"]
FUNCS = ["average", "maximum", "reverse_words", "count_vowels", "is_prime", "factorial", "flatten", "word_count"]
BUGS = ["it returns the wrong value for an empty list", "it raises an IndexError on the last element",
        "it loops forever when the input is zero", "it gives an off-by-one result",
        "it crashes with a TypeError on None"]
DISHES = ["a lentil soup", "banana bread", "a vegetable curry", "pancakes", "a tomato pasta sauce", "fried rice",
          "a lemon cake", "a chickpea salad", "a mushroom risotto", "apple pie"]
COUNTRIES = ["France", "Kenya", "Peru", "Vietnam", "Canada", "Egypt", "Norway", "Chile", "Ghana", "Nepal", "Poland",
             "Cuba", "Brazil", "India", "Japan", "Mexico", "Spain", "Turkey", "Greece", "Morocco"]
TEXTS = ["The city council met on Tuesday to discuss the new park and agreed to plant two hundred trees.",
         "Researchers found that people who sleep eight hours remember new words better than those who do not.",
         "The company reported higher sales this quarter thanks to strong demand for its electric bicycles.",
         "A storm closed several roads in the north, and schools will stay shut until the weekend.",
         "The museum opened an exhibition of ancient coins that were discovered by farmers last spring.",
         "Volunteers cleaned the beach on Saturday and collected more than a ton of plastic waste.",
         "The new bridge will shorten the drive between the two towns by almost half an hour.",
         "Local bakeries say the price of flour has doubled, so bread will cost more next month.",
         "A small team of students built a solar car that crossed the country in six days.",
         "The hospital added forty beds and hired new nurses to cut waiting times in winter.",
         "Farmers expect a smaller harvest this year because the summer was unusually dry and hot.",
         "The football club signed a young goalkeeper who impressed scouts at a youth tournament."]

KINDS = {
    "arithmetic": [
        lambda r: f"{r.choice(NAMES)} has {r.randint(3, 90)} {r.choice(THINGS)} and buys {r.randint(2, 40)} more. "
                  f"How many {r.choice(THINGS)} does {r.choice(NAMES)} have now?",
        lambda r: f"A box holds {r.randint(4, 30)} {r.choice(THINGS)}. How many {r.choice(THINGS)} are in "
                  f"{r.randint(2, 12)} boxes? Show the multiplication.",
        lambda r: f"{r.choice(NAMES)} had {r.randint(20, 99)} dollars and spent {r.randint(1, 19)} dollars on "
                  f"{r.choice(THINGS)}. How much money is left?",
    ],
    "translation": [
        lambda r: f"Translate the sentence '{r.choice(SENTENCES)}' into {r.choice(LANGS)}.",
        lambda r: f"How do you say '{r.choice(SENTENCES)}' in {r.choice(LANGS)}?",
        lambda r: f"Please give me the {r.choice(LANGS)} translation of: {r.choice(SENTENCES)}",
    ],
    "poem": [
        lambda r: f"Write {r.choice(STYLES)} about {r.choice(TOPICS)}.",
        lambda r: f"Compose a short poem about {r.choice(TOPICS)} in the form of {r.choice(STYLES)}.",
        lambda r: f"Can you write me a poem on {r.choice(TOPICS)}? Make it {r.choice(STYLES)}.",
    ],
    "code_fix": [
        lambda r: f"Fix the bug in my Python function {r.choice(FUNCS)}: {r.choice(BUGS)}.",
        lambda r: f"My Python code for {r.choice(FUNCS)} has a bug, {r.choice(BUGS)}. How do I fix the function?",
        lambda r: f"Debug this Python function named {r.choice(FUNCS)}; {r.choice(BUGS)}.",
    ],
    "recipe": [
        lambda r: f"Give me a recipe for {r.choice(DISHES)} with a list of ingredients and cooking steps.",
        lambda r: f"How do I cook {r.choice(DISHES)} at home? Please list the ingredients.",
        lambda r: f"Share a simple recipe for {r.choice(DISHES)} for {r.randint(2, 8)} people.",
    ],
    "sorting": [
        lambda r: "Sort these numbers in ascending order: " + ", ".join(str(r.randint(1, 999)) for _ in range(r.randint(5, 9))),
        lambda r: "Arrange the following list from largest to smallest: " + ", ".join(str(r.randint(1, 999)) for _ in range(r.randint(5, 9))),
        lambda r: "Put this list of numbers in increasing order: [" + ", ".join(str(r.randint(1, 999)) for _ in range(r.randint(5, 9))) + "]",
    ],
    "summary": [
        lambda r: f"Summarize the following paragraph in one sentence: {r.choice(TEXTS)}",
        lambda r: f"Write a short summary of this news text: {r.choice(TEXTS)}",
        lambda r: f"Give me the main point of this passage in a few words: {r.choice(TEXTS)}",
        lambda r: f"Condense this text into a single short sentence: {r.choice(TEXTS)}",
        lambda r: f"TL;DR this for me: {r.choice(TEXTS)}",
        lambda r: f"Briefly summarize what this report says: {r.choice(TEXTS)}",
    ],
    "trivia": [
        lambda r: f"What is the capital city of {r.choice(COUNTRIES)}?",
        lambda r: f"Which continent is {r.choice(COUNTRIES)} in?",
        lambda r: f"What is the official language of {r.choice(COUNTRIES)}?",
        lambda r: f"What currency is used in {r.choice(COUNTRIES)}?",
    ],
}


def pool_rows(per_kind: int = 50, seed: int = 0) -> list[dict]:
    """``per_kind`` distinct instructions of each kind: ``{"instruction", "response", "kind"}``."""
    r = random.Random(seed)
    rows = []
    for kind, templates in KINDS.items():
        seen: set[str] = set()
        for _ in range(100 * per_kind):
            text = r.choice(templates)(r)
            if text not in seen:
                seen.add(text)
                rows.append({"instruction": text, "response": f"({kind} answer {len(seen)})", "kind": kind})
                if len(seen) == per_kind:
                    break
        else:
            raise ValueError(f"the templates of {kind!r} cannot give {per_kind} distinct instructions")
    random.Random(seed + 1).shuffle(rows)
    return rows


def write_pool(path: Path, per_kind: int = 50, seed: int = 0) -> list[dict]:
    rows = pool_rows(per_kind, seed)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows
