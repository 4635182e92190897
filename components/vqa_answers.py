"""A shipped list of common short answers to visual questions, grouped by answer type.

Where the list comes from: composed for CLIP Lab from general-knowledge categories, not copied from
any dataset or project. VQA v2's answers are mostly one or two words and fall into three types
(yes/no, number, other; Goyal et al. 2017); "other" is dominated by colours, everyday objects,
animals, food, places, activities, sports, weather and materials. Each group below is a plain
enumeration of such words (digits for numbers, as VQA writes them). ViLT's own answer vocabulary
(3 129 answers) lives in its checkpoint's `config.id2label` and is used by the ViLT engine instead.

`ANSWER_GROUPS` maps a group name to its answers; `ALL_ANSWERS` is every answer once, in group order.
"""

from __future__ import annotations

YES_NO = ("yes", "no")

NUMBERS = tuple(str(n) for n in range(0, 21))

COLOURS = (
    "white", "black", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
    "tan", "beige", "silver", "gold", "navy", "maroon", "teal", "turquoise", "cream",
)

ANIMALS = (
    "cat", "dog", "horse", "cow", "sheep", "goat", "pig", "bird", "duck", "chicken", "elephant",
    "giraffe", "zebra", "bear", "lion", "tiger", "monkey", "deer", "rabbit", "squirrel", "mouse",
    "fish", "turtle", "snake", "frog", "butterfly", "bee", "owl", "parrot", "penguin",
)

VEHICLES = (
    "car", "truck", "bus", "train", "bicycle", "motorcycle", "airplane", "helicopter", "boat",
    "ship", "taxi", "van", "tractor", "scooter", "skateboard", "rocket", "space shuttle",
)

FOOD = (
    "pizza", "sandwich", "hot dog", "hamburger", "cake", "donut", "bread", "salad", "soup", "pasta",
    "rice", "apple", "banana", "orange", "grapes", "strawberry", "broccoli", "carrot", "tomato",
    "cheese", "egg", "meat", "chicken", "fish", "coffee", "tea", "water", "milk", "wine", "beer",
    "juice", "ice cream", "cookie", "chocolate",
)

OBJECTS = (
    "person", "man", "woman", "child", "baby", "people", "table", "chair", "couch", "bed", "lamp",
    "clock", "television", "laptop", "computer", "phone", "keyboard", "book", "cup", "mug", "glass",
    "bottle", "plate", "bowl", "fork", "knife", "spoon", "vase", "flowers", "plant", "tree",
    "umbrella", "bag", "backpack", "suitcase", "hat", "helmet", "glasses", "shirt", "jacket",
    "shoes", "tie", "ball", "frisbee", "kite", "surfboard", "skis", "racket", "bat", "glove",
    "toy", "teddy bear", "sign", "flag", "window", "door", "wall", "fence", "bench", "building",
    "house", "bridge", "tower", "mountain", "road", "sky", "cloud", "grass", "sand", "snow", "water",
    "fire", "smoke", "light", "camera", "microphone", "guitar", "scissors", "toothbrush", "mirror",
    "sink", "toilet", "refrigerator", "oven", "microwave", "spacesuit", "flag", "statue",
)

PLACES = (
    "kitchen", "bathroom", "bedroom", "living room", "dining room", "office", "classroom",
    "restaurant", "street", "city", "park", "beach", "ocean", "lake", "river", "forest", "field",
    "farm", "zoo", "airport", "station", "stadium", "mountain", "desert", "space", "garden",
    "shop", "market", "table", "floor", "outside", "inside",
)

ACTIVITIES = (
    "sitting", "standing", "walking", "running", "eating", "drinking", "sleeping", "reading",
    "talking", "playing", "swimming", "surfing", "skiing", "skateboarding", "riding", "driving",
    "flying", "cooking", "working", "smiling", "posing", "waiting", "jumping", "throwing",
    "catching", "looking", "resting", "lying down",
)

SPORTS = (
    "tennis", "baseball", "soccer", "football", "basketball", "skiing", "snowboarding",
    "surfing", "skateboarding", "golf", "swimming", "volleyball", "frisbee", "cycling",
)

WEATHER = ("sunny", "cloudy", "rainy", "snowy", "foggy", "windy", "clear", "stormy")

MATERIALS = (
    "wood", "metal", "plastic", "glass", "paper", "cloth", "leather", "stone", "brick",
    "concrete", "ceramic", "porcelain", "steel", "fur",
)

TIMES = ("morning", "afternoon", "evening", "night", "day", "sunset", "sunrise")

ANSWER_GROUPS: dict[str, tuple[str, ...]] = {
    "yes/no": YES_NO,
    "numbers": NUMBERS,
    "colours": COLOURS,
    "animals": ANIMALS,
    "vehicles": VEHICLES,
    "food": FOOD,
    "objects": OBJECTS,
    "places": PLACES,
    "activities": ACTIVITIES,
    "sports": SPORTS,
    "weather": WEATHER,
    "materials": MATERIALS,
    "times": TIMES,
}

# Nouns a question may use to name its answer type ("what animal is this?") → the group to offer.
KIND_WORDS: dict[str, str] = {
    "animal": "animals", "animals": "animals", "pet": "animals", "bird": "animals",
    "vehicle": "vehicles", "vehicles": "vehicles",
    "food": "food", "fruit": "food", "vegetable": "food", "drink": "food", "dish": "food", "meal": "food",
    "room": "places", "place": "places", "location": "places",
    "sport": "sports", "game": "sports",
    "material": "materials",
    "colour": "colours", "color": "colours",
    "object": "objects", "thing": "objects", "item": "objects",
    "time": "times",
    "weather": "weather",
}

ALL_ANSWERS: tuple[str, ...] = tuple(dict.fromkeys(a for group in ANSWER_GROUPS.values() for a in group))


def answers_for(group: str | None) -> tuple[str, ...]:
    """The answers of one group, or every answer for None / "all"."""
    if group in (None, "all"):
        return ALL_ANSWERS
    return ANSWER_GROUPS[group]
