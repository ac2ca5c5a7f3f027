"""Lookup tables and value pools of the synthetic IMDb (real lookup contents, plausible pools)."""
from __future__ import annotations

#: Real row counts of the May-2013 IMDb snapshot behind JOB (IMDB_STATS.md, section 1).
REAL_ROWS: dict[str, int] = {
    "cast_info": 36_244_344, "movie_info": 14_835_720, "movie_keyword": 4_523_930,
    "name": 4_167_491, "char_name": 3_140_339, "person_info": 2_963_664,
    "movie_companies": 2_609_129, "title": 2_528_312, "movie_info_idx": 1_380_035,
    "aka_name": 901_343, "aka_title": 361_472, "company_name": 234_997,
    "complete_cast": 135_086, "keyword": 134_170, "movie_link": 29_997,
}

KIND_TYPE = ["movie", "tv series", "tv movie", "video movie", "tv mini series", "video game",
             "episode"]
COMPANY_TYPE = ["distributors", "production companies", "special effects companies",
                "miscellaneous companies"]
COMP_CAST_TYPE = ["cast", "crew", "complete", "complete+verified"]
ROLE_TYPE = ["actor", "actress", "producer", "writer", "cinematographer", "composer",
             "costume designer", "director", "editor", "miscellaneous crew",
             "production designer", "guest"]
LINK_TYPE = ["follows", "followed by", "remake of", "remade as", "references", "referenced in",
             "spoofs", "spoofed in", "features", "featured in", "spin off from", "spin off",
             "version of", "similar to", "edited into", "edited from", "alternate language version of",
             "unknown link"]
# IMDbPY's info types in id order (1..113), as loaded into JOB's info_type table.
INFO_TYPE = (
    ["runtimes", "color info", "genres", "languages", "certificates", "sound mix", "tech info",
     "countries", "taglines", "keywords", "alternate versions", "crazy credits", "goofs",
     "soundtrack", "quotes", "release dates", "trivia", "locations", "mini biography",
     "birth notes", "birth date", "height", "death date", "spouse", "other works", "birth name",
     "salary history", "nick names", "books", "agent address", "biographical movies",
     "portrayed in", "where now", "trade mark", "interviews", "article", "magazine cover photo",
     "pictorial", "death notes"]
    + ["LD " + s for s in (
        "disc format", "year", "digital sound", "official retail price", "frequency response",
        "pressing plant", "length", "language", "review", "spaciality", "release date",
        "production country", "contrast", "color rendition", "picture format", "video noise",
        "video artifacts", "release country", "sharpness", "dynamic range", "audio noise",
        "color information", "group genre", "quality program", "close captions-teletext-ld-g",
        "category", "analog left", "certification", "audio quality", "video quality",
        "aspect ratio", "analog right", "additional information", "number of chapter stops",
        "dialogue intellegibility", "disc size", "master format", "subtitles",
        "status of availablility", "quality of source", "number of sides", "video standard",
        "supplement", "original title", "sound encoding", "number", "label", "catalog number",
        "laserdisc title")]
    + ["screenplay-teleplay", "novel", "adaption", "book", "production process protocol",
       "printed media reviews", "essays", "other literature", "mpaa", "plot",
       "votes distribution", "votes", "rating", "production dates", "copyright holder",
       "filming dates", "budget", "weekend gross", "gross", "opening weekend", "rentals",
       "admissions", "studios", "top 250 rank", "bottom 10 rank"]
)
assert len(INFO_TYPE) == 113

# movie_info.info_type_id: the frequent types with rough real shares, the rest spread thin
# (71 ids of 1..110 are used on real data).
MOVIE_INFO_TYPES: dict[int, float] = {
    16: 0.20, 3: 0.10, 8: 0.09, 4: 0.09, 1: 0.08, 2: 0.08, 5: 0.05, 6: 0.04, 98: 0.04,
    17: 0.04, 18: 0.04, 7: 0.04, 15: 0.02, 13: 0.02, 9: 0.01, 105: 0.01, 107: 0.01,
    102: 0.01, 104: 0.01, 97: 0.005, 94: 0.005, 103: 0.005, 106: 0.005, 108: 0.005,
    11: 0.004, 12: 0.004, 14: 0.004,
}
_rest = [i for i in list(range(40, 90)) + [89, 90, 91, 92, 93, 95, 96, 109, 110]
         if i not in MOVIE_INFO_TYPES][: 71 - len(MOVIE_INFO_TYPES)]
MOVIE_INFO_TYPES.update({i: 0.0008 for i in _rest})
PERSON_INFO_TYPES: dict[int, float] = {
    19: 0.18, 17: 0.15, 21: 0.12, 22: 0.08, 20: 0.08, 26: 0.07, 25: 0.07, 23: 0.05, 24: 0.05,
    28: 0.04, 34: 0.03, 39: 0.02, 33: 0.02, 31: 0.02, 32: 0.01, 35: 0.005, 36: 0.005,
    37: 0.005, 38: 0.005, 27: 0.005, 29: 0.005, 30: 0.005,
}

GENRES = ["Drama", "Comedy", "Documentary", "Short", "Action", "Thriller", "Romance", "Horror",
          "Crime", "Family", "Adventure", "Animation", "Music", "Fantasy", "Mystery", "Sci-Fi",
          "Reality-TV", "Biography", "History", "War", "Adult", "Talk-Show", "Sport", "Musical",
          "Western", "News", "Game-Show", "Film-Noir"]
COUNTRIES = ["USA", "UK", "Germany", "France", "Canada", "Japan", "Italy", "India", "Spain",
             "Australia", "Sweden", "Mexico", "Brazil", "Netherlands", "Denmark", "Norway",
             "Argentina", "Finland", "Belgium", "South Korea", "Bulgaria", "Russia", "China",
             "Poland", "Greece", "Turkey", "Philippines", "Austria", "Hungary", "Portugal"]
LANGUAGES = ["English", "Spanish", "German", "French", "Japanese", "Italian", "Hindi",
             "Portuguese", "Swedish", "Russian", "Dutch", "Danish", "Norwegian", "Finnish",
             "Mandarin", "Korean", "Greek", "Turkish", "Polish", "Bulgarian"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
CERTIFICATES = ["USA:R", "USA:PG-13", "USA:PG", "USA:G", "UK:15", "UK:12", "UK:18",
                "Germany:12", "Germany:16", "USA:TV-14", "USA:TV-PG", "USA:Unrated"]
COLOR_INFO = ["Color", "Black and White"]
SOUND_MIX = ["Stereo", "Mono", "Dolby Digital", "Dolby", "DTS", "Dolby SR", "SDDS"]

COUNTRY_CODES = {  # company_name.country_code shares (NULL ~10%)
    "[us]": 0.361, "[gb]": 0.06, "[de]": 0.042, "[fr]": 0.035, "[ca]": 0.035, "[jp]": 0.029,
    "[it]": 0.02, "[in]": 0.02, "[es]": 0.018, "[au]": 0.016, "[nl]": 0.010, "[se]": 0.01,
    "[br]": 0.01, "[mx]": 0.01, "[dk]": 0.008, "[no]": 0.007, "[fi]": 0.007, "[ru]": 0.0058,
    "[kr]": 0.006, "[be]": 0.006, "[ar]": 0.006, "[at]": 0.005, "[pl]": 0.005, "[hk]": 0.005,
    "[cn]": 0.005, "[bg]": 0.003, "[tr]": 0.004, "[gr]": 0.004, "[ph]": 0.004, "[pt]": 0.004,
}

CAST_NOTES = {  # cast_info.note: shares among non-NULL notes (the rest are "(as ...)" credits)
    "(producer)": 0.09, "(voice)": 0.045, "(executive producer)": 0.06, "(writer)": 0.05,
    "(uncredited)": 0.08, "(archive footage)": 0.03, "(co-producer)": 0.03,
    "(voice) (uncredited)": 0.006, "(screenplay)": 0.02, "(story)": 0.015, "(novel)": 0.01,
    "(associate producer)": 0.02, "(as Himself)": 0.02, "(voice: English version)": 0.003,
    "(original story)": 0.005, "(characters)": 0.008, "(creator)": 0.01,
}
COMPANY_NOTES = ["(USA)", "(worldwide)", "(theatrical)", "(TV)", "(DVD)", "(VHS)",
                 "(co-production)", "(presents)", "(in association with)", "(all media)",
                 "(Germany)", "(UK)", "(France)", "(Japan)", "(Canada)", "(Blu-ray)",
                 "(video)", "(as Metro-Goldwyn-Mayer Pictures)", "(uncredited)", "(limited)"]

FIRST_M = ["John", "James", "Robert", "Michael", "William", "David", "Richard", "Joseph",
           "Thomas", "Charles", "Daniel", "Paul", "Mark", "George", "Peter", "Frank", "Jack",
           "Tony", "Hans", "Pierre", "Carlos", "Luis", "Kenji", "Ivan", "Lars", "Bert",
           "Ben", "Brad", "Tom", "Andrew", "Steven", "Kevin", "Brian", "Edward", "Henry"]
FIRST_F = ["Mary", "Patricia", "Linda", "Barbara", "Elizabeth", "Jennifer", "Maria", "Susan",
           "Margaret", "Dorothy", "Lisa", "Nancy", "Karen", "Betty", "Helen", "Sandra", "Anna",
           "Angela", "Anne", "Julia", "Emma", "Sophie", "Yuki", "Olga", "Ingrid", "Claire",
           "Rachel", "Laura", "Sarah", "Kate", "Amy", "Diana", "Joan", "Alice", "Grace"]
SURNAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Garcia",
            "Rodriguez", "Wilson", "Martinez", "Anderson", "Taylor", "Thomas", "Hernandez",
            "Moore", "Martin", "Jackson", "Thompson", "White", "Lopez", "Lee", "Gonzalez",
            "Harris", "Clark", "Lewis", "Robinson", "Walker", "Perez", "Hall", "Young", "Allen",
            "Sanchez", "Wright", "King", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill",
            "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres",
            "Parker", "Collins", "Edwards", "Stewart", "Flores", "Morris", "Nguyen", "Murphy",
            "Rivera", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell",
            "Gomez", "Kelly", "Howard", "Ward", "Cox", "Diaz", "Richardson", "Wood", "Watson",
            "Brooks", "Bennett", "Gray", "James", "Reyes", "Cruz", "Hughes", "Price", "Myers",
            "Long", "Foster", "Sanders", "Ross", "Morales", "Powell", "Sullivan", "Russell",
            "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Tanaka",
            "Suzuki", "Ivanov", "Petrov", "Dubois", "Moreau", "Rossi", "Russo", "Larsen",
            "Nielsen", "Hansen", "Berg", "Lindqvist", "Novak", "Kowalski", "Silva", "Santos"]
TITLE_WORDS = ["The", "Love", "Night", "Man", "Day", "Life", "Story", "Last", "Dark", "House",
               "Return", "Dead", "Blood", "City", "World", "Girl", "King", "Secret", "Time",
               "Home", "Lost", "Black", "Red", "Summer", "Winter", "Fire", "Heart", "Game",
               "Road", "Star", "War", "Shadow", "Money", "Dream", "Island", "River", "Angel",
               "Family", "Power", "Murder", "Rain", "Moon", "Sun", "Ghost", "Wild", "Run",
               "Party", "School", "Street", "Kiss", "Truth", "Gold", "Brother", "Sister",
               "Hunter", "Killer", "Journey", "Knight", "Queen", "Devil", "Hero", "Ocean"]
COMPANY_SUFFIX = ["Pictures", "Films", "Productions", "Entertainment", "Studios", "Media",
                  "Film", "Television", "Distribution", "Video", "Home Video", "Releasing"]
CHAR_NAMES = ["Himself", "Herself", "Narrator", "Doctor", "Nurse", "Police Officer", "Man",
              "Woman", "Reporter", "Bartender", "Waitress", "Mother", "Father", "Host",
              "Guest", "Dancer", "Singer", "Soldier", "Student", "Teacher", "Driver", "Queen",
              "King", "Detective", "Judge", "Priest", "Boy", "Girl", "Thug", "Guard"]
