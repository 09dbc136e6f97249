"""What the default model is taught: objects (with the words marketers use for them) and backgrounds.

Objects are keyed by the ``short_name`` of the emoji data package. The order matters: a run that trains
the first N objects can be resumed later with a larger N, so the earliest entries are the most useful ones
and each later block adds breadth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueObject:
    short_name: str
    # Caption words; the first is the main name, the others are synonyms used as often.
    words: tuple[str, ...]
    plural: bool = False


def _o(short_name: str, *words: str, plural: bool = False) -> CatalogueObject:
    return CatalogueObject(short_name, words, plural)


OBJECTS: tuple[CatalogueObject, ...] = (
    # --- First block (56): food, drinks, products, vehicles, plants, animals, sports. ---
    _o("apple", "red apple", "apple"),
    _o("banana", "banana"),
    _o("strawberry", "strawberry"),
    _o("pineapple", "pineapple"),
    _o("watermelon", "watermelon slice", "slice of watermelon", "watermelon"),
    _o("lemon", "lemon"),
    _o("avocado", "avocado"),
    _o("carrot", "carrot"),
    _o("broccoli", "broccoli"),
    _o("pizza", "slice of pizza", "pizza slice", "pizza"),
    _o("hamburger", "burger", "hamburger", "cheeseburger"),
    _o("fries", "french fries", "fries", plural=True),
    _o("croissant", "croissant"),
    _o("doughnut", "donut", "doughnut"),
    _o("birthday", "birthday cake", "cake"),
    _o("icecream", "ice cream cone", "ice cream"),
    _o("coffee", "coffee mug", "mug", "cup of coffee", "coffee cup"),
    _o("wine_glass", "glass of red wine", "wine glass", "glass of wine"),
    _o("beer", "beer mug", "mug of beer", "beer"),
    _o("tropical_drink", "cocktail", "tropical drink"),
    _o("champagne", "champagne bottle", "bottle of champagne", "bottle"),
    _o("iphone", "smartphone", "mobile phone", "phone"),
    _o("computer", "laptop", "laptop computer", "notebook computer"),
    _o("camera", "camera", "photo camera"),
    _o("headphones", "headphones", "headset", plural=True),
    _o("watch", "wristwatch", "watch"),
    _o("bulb", "light bulb", "lightbulb"),
    _o("athletic_shoe", "running shoe", "sneaker", "trainer"),
    _o("handbag", "handbag", "purse", "bag"),
    _o("school_satchel", "backpack", "school bag", "rucksack"),
    _o("dark_sunglasses", "sunglasses", plural=True),
    _o("gift", "gift box", "present", "wrapped gift"),
    _o("car", "red car", "car"),
    _o("bike", "bicycle", "bike"),
    _o("airplane", "airplane", "plane", "aircraft"),
    _o("rocket", "rocket"),
    _o("bus", "bus"),
    _o("boat", "sailboat", "sailing boat"),
    _o("truck", "delivery truck", "truck", "van"),
    _o("sunflower", "sunflower"),
    _o("rose", "rose", "red rose"),
    _o("tulip", "tulip"),
    _o("potted_plant", "potted plant", "houseplant", "plant"),
    _o("cactus", "cactus"),
    _o("palm_tree", "palm tree"),
    _o("dog2", "dog"),
    _o("cat2", "cat"),
    _o("dolphin", "dolphin"),
    _o("monkey", "monkey"),
    _o("penguin", "penguin"),
    _o("owl", "owl"),
    _o("butterfly", "butterfly"),
    _o("soccer", "soccer ball", "football"),
    _o("basketball", "basketball"),
    _o("tennis", "tennis racket", "tennis racquet"),
    _o("trophy", "trophy", "gold trophy", "cup trophy"),
    # --- Second block: more of the same domains. ---
    _o("cherries", "cherries", plural=True),
    _o("grapes", "grapes", "bunch of grapes", plural=True),
    _o("peach", "peach"),
    _o("green_apple", "green apple"),
    _o("tomato", "tomato"),
    _o("corn", "corn", "ear of corn"),
    _o("hotdog", "hot dog"),
    _o("taco", "taco"),
    _o("sandwich", "sandwich"),
    _o("bread", "loaf of bread", "bread"),
    _o("cookie", "cookie"),
    _o("cupcake", "cupcake"),
    _o("popcorn", "popcorn", "bucket of popcorn"),
    _o("sushi", "sushi"),
    _o("tea", "cup of tea", "teacup"),
    _o("teapot", "teapot"),
    _o("bubble_tea", "bubble tea"),
    _o("glass_of_milk", "glass of milk", "milk"),
    _o("cup_with_straw", "soda cup", "soft drink", "cup with straw"),
    _o("desktop_computer", "desktop computer", "computer monitor", "monitor"),
    _o("keyboard", "keyboard", "computer keyboard"),
    _o("tv", "television", "tv"),
    _o("microphone", "microphone", "mic"),
    _o("guitar", "guitar", "electric guitar"),
    _o("shirt", "t-shirt", "shirt", "tee"),
    _o("jeans", "jeans", plural=True),
    _o("dress", "dress"),
    _o("high_heel", "high heel shoe", "high heels"),
    _o("lipstick", "lipstick"),
    _o("ring", "diamond ring", "ring"),
    _o("shopping_bags", "shopping bags", plural=True),
    _o("package", "cardboard box", "parcel", "package"),
    _o("books", "stack of books", "books", plural=True),
    _o("umbrella", "umbrella"),
    _o("alarm_clock", "alarm clock", "clock"),
    _o("balloon", "balloon", "red balloon"),
    _o("racing_motorcycle", "motorcycle", "motorbike"),
    _o("taxi", "taxi", "cab"),
    _o("bullettrain_front", "high-speed train", "train"),
    _o("helicopter", "helicopter"),
    _o("scooter", "kick scooter", "scooter"),
    _o("tractor", "tractor"),
    _o("speedboat", "speedboat", "motorboat"),
    _o("evergreen_tree", "pine tree", "fir tree", "evergreen tree"),
    _o("deciduous_tree", "tree", "oak tree"),
    _o("hibiscus", "hibiscus flower", "hibiscus"),
    _o("cherry_blossom", "cherry blossom", "pink flower"),
    _o("bouquet", "bouquet of flowers", "bouquet"),
    _o("maple_leaf", "maple leaf", "autumn leaf"),
    _o("elephant", "elephant"),
    _o("turtle", "turtle", "tortoise"),
    _o("tropical_fish", "tropical fish", "fish"),
    _o("panda_face", "panda"),
    _o("fox_face", "fox"),
    _o("bee", "bee", "honeybee"),
    _o("unicorn_face", "unicorn"),
    _o("octopus", "octopus"),
    _o("flamingo", "flamingo"),
    _o("parrot", "parrot"),
    _o("baseball", "baseball"),
    _o("football", "american football", "rugby ball"),
    _o("volleyball", "volleyball"),
    _o("8ball", "billiard ball", "eight ball"),
    _o("skateboard", "skateboard"),
    _o("bowling", "bowling ball and pins", "bowling"),
    _o("golf", "golf flag", "golf hole"),
    _o("boxing_glove", "boxing glove"),
    _o("sports_medal", "gold medal", "medal"),
    _o("video_game", "game controller", "gamepad"),
    _o("teddy_bear", "teddy bear"),
    _o("kite", "kite"),
)

DEFAULT_OBJECT_COUNT = 56


@dataclass(frozen=True)
class NamedColour:
    name: str
    rgb: tuple[int, int, int]


COLOURS: tuple[NamedColour, ...] = (
    NamedColour("red", (214, 40, 40)),
    NamedColour("orange", (245, 130, 32)),
    NamedColour("yellow", (250, 215, 50)),
    NamedColour("green", (60, 170, 75)),
    NamedColour("dark green", (20, 90, 45)),
    NamedColour("teal", (20, 150, 150)),
    NamedColour("light blue", (140, 200, 245)),
    NamedColour("blue", (35, 90, 210)),
    NamedColour("navy", (20, 30, 90)),
    NamedColour("purple", (130, 60, 180)),
    NamedColour("pink", (245, 150, 190)),
    NamedColour("white", (245, 245, 245)),
    NamedColour("light gray", (200, 200, 200)),
    NamedColour("gray", (125, 125, 125)),
    NamedColour("black", (20, 20, 20)),
    NamedColour("brown", (120, 75, 40)),
    NamedColour("beige", (230, 215, 180)),
)

# Scenes: a texture kind (drawn in data.py) and the phrases a caption may use for it.
SCENES: dict[str, tuple[str, ...]] = {
    "wood": ("on a wooden desk", "on a wooden table", "on a wood surface"),
    "brick": ("against a brick wall", "in front of a red brick wall"),
    "light_stone": ("on a light stone surface", "on a light concrete surface", "on a pale stone countertop"),
    "dark_stone": ("on a dark slate surface", "on dark stone"),
    "sunset": ("at sunset", "against a sunset sky"),
    "studio": ("in a white studio", "on a white studio backdrop", "in a bright photo studio"),
    "sky": ("against a blue sky", "in the sky", "under a clear blue sky"),
    "grass": ("on green grass", "on a lawn"),
    "night": ("at night", "against a starry night sky"),
    "sand": ("on the sand", "on a sandy beach"),
}


def held_out_colour(short_name: str) -> str:
    """The solid background colour never paired with this object in training.

    A benchmark can then prompt "<object> on a <colour> background" for pairs the model has never seen, so
    adherence is measured on composition, not on memorised pairs. Stable across runs and object counts.
    """
    index = sum(ord(char) for char in short_name) % len(COLOURS)
    return COLOURS[index].name
