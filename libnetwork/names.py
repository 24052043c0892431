"""Random sandbox names in Docker's adjective_surname style."""

import random

ADJECTIVES = (
    "admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy",
    "inspiring", "jolly", "keen", "laughing", "modest", "nifty", "optimistic", "practical",
    "quirky", "relaxed", "serene", "trusting", "upbeat", "vibrant", "wizardly", "zealous",
)
SURNAMES = (
    "allen", "babbage", "cerf", "dijkstra", "engelbart", "floyd", "goldberg", "hopper",
    "ishizaka", "jennings", "kahn", "lamport", "liskov", "metcalfe", "neumann", "ostrom",
    "perlman", "ritchie", "shannon", "thompson", "turing", "varahamihira", "wing", "yonath",
)


def random_name(taken: set[str]) -> str:
    while True:
        name = f"{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}"
        if name not in taken:
            return name
        name = f"{name}{random.randint(0, 9)}"
        if name not in taken:
            return name
