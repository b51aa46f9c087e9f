"""English: month and weekday names, number words and place names.

Months and weekdays are capitalised ("in September"); a lower-case "may" is a verb and "march" a
noun, and a capitalised "May" or "March" opening a sentence is as often no date ("May I come
in?"). An English place name that takes the definite article in running text includes it in
lower case ("the United States", "the Alps"): its symbol stands for the whole, and an output
that writes an article before the symbol is mended ("in the the United States").

Places: continents and big regions, every UN member country and a few more territories (Taïwan,
Palestine, Kosovo, Groenland, Hong Kong), the nations of the United Kingdom, US states and
Canadian provinces, about 180 cities, and some rivers, seas and mountains, each keyed by its
English name without the article (the key every language's table uses); the first form is the
one written in output, the others are further spellings found in input ("Bombay", "Peking").
Forms are written as in running text, capitalised, with their accents. A form stands under one
key only. Places whose name in either language is also a common first name or an ordinary
word, where the two languages write them differently, are left out (Jordanie / Jordan, Tchad /
Chad, Turquie / Turkey, Géorgie / Georgia, Maurice / Mauritius, Grenade / Grenada), and so are
names that are an ordinary word in both ("Nice", "Reading").
"""

from __future__ import annotations

import re

from seq2seq.entities.language import Language

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
                "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "hundred": 100, "thousand": 1000}

PLACES: dict[str, tuple[str, ...]] = {
    # continents and big regions
    "Africa": ("Africa",), "Europe": ("Europe",), "Asia": ("Asia",), "America": ("America", "the Americas"),
    "North America": ("North America",), "South America": ("South America",),
    "Central America": ("Central America",), "Latin America": ("Latin America",), "Oceania": ("Oceania",),
    "Antarctica": ("Antarctica", "the Antarctic"), "Arctic": ("the Arctic",), "North Africa": ("North Africa",),
    "Southeast Asia": ("Southeast Asia", "South-East Asia"), "Middle East": ("the Middle East",),
    "Near East": ("the Near East",), "Far East": ("the Far East",), "Scandinavia": ("Scandinavia",),
    "Siberia": ("Siberia",), "Balkans": ("the Balkans",), "Caribbean": ("the Caribbean",),
    "Sahara": ("the Sahara",), "Tibet": ("Tibet",), "Lapland": ("Lapland",), "Patagonia": ("Patagonia",),
    "Mesopotamia": ("Mesopotamia",), "Brittany": ("Brittany",), "Normandy": ("Normandy",),
    "Provence": ("Provence",), "Alsace": ("Alsace",), "Burgundy": ("Burgundy",), "Corsica": ("Corsica",),
    "Sicily": ("Sicily",), "Sardinia": ("Sardinia",), "Crete": ("Crete",), "Tuscany": ("Tuscany",),
    "Bavaria": ("Bavaria",), "Catalonia": ("Catalonia",), "Andalusia": ("Andalusia",), "Flanders": ("Flanders",),
    "Wallonia": ("Wallonia",), "Tahiti": ("Tahiti",), "Bali": ("Bali",), "Okinawa": ("Okinawa",),
    "Hokkaido": ("Hokkaido",), "Kyushu": ("Kyushu",), "Shikoku": ("Shikoku",), "Honshu": ("Honshu",),
    "Kansai": ("Kansai",),
    # countries
    "Afghanistan": ("Afghanistan",), "South Africa": ("South Africa",), "Albania": ("Albania",),
    "Algeria": ("Algeria",), "Germany": ("Germany",), "Andorra": ("Andorra",), "Angola": ("Angola",),
    "Antigua and Barbuda": ("Antigua and Barbuda",), "Saudi Arabia": ("Saudi Arabia",),
    "Argentina": ("Argentina",), "Armenia": ("Armenia",), "Australia": ("Australia",), "Austria": ("Austria",),
    "Azerbaijan": ("Azerbaijan",), "Bahamas": ("the Bahamas",), "Bahrain": ("Bahrain",),
    "Bangladesh": ("Bangladesh",), "Barbados": ("Barbados",), "Belgium": ("Belgium",), "Belize": ("Belize",),
    "Benin": ("Benin",), "Bhutan": ("Bhutan",), "Belarus": ("Belarus",), "Myanmar": ("Myanmar", "Burma"),
    "Bolivia": ("Bolivia",), "Bosnia and Herzegovina": ("Bosnia and Herzegovina", "Bosnia"),
    "Botswana": ("Botswana",), "Brazil": ("Brazil",), "Brunei": ("Brunei",), "Bulgaria": ("Bulgaria",),
    "Burkina Faso": ("Burkina Faso",), "Burundi": ("Burundi",), "Cambodia": ("Cambodia",),
    "Cameroon": ("Cameroon",), "Canada": ("Canada",), "Cape Verde": ("Cape Verde", "Cabo Verde"),
    "Chile": ("Chile",), "China": ("China",), "Cyprus": ("Cyprus",), "Colombia": ("Colombia",),
    "Comoros": ("the Comoros",), "Congo": ("the Congo", "the Republic of the Congo"),
    "Democratic Republic of the Congo": ("the Democratic Republic of the Congo", "the DRC"), "Korea": ("Korea",),
    "North Korea": ("North Korea",), "South Korea": ("South Korea",), "Costa Rica": ("Costa Rica",),
    "Côte d'Ivoire": ("Côte d'Ivoire", "the Ivory Coast"), "Croatia": ("Croatia",), "Cuba": ("Cuba",),
    "Denmark": ("Denmark",), "Djibouti": ("Djibouti",), "Egypt": ("Egypt",),
    "United Arab Emirates": ("the United Arab Emirates", "the UAE"), "Ecuador": ("Ecuador",),
    "Eritrea": ("Eritrea",), "Spain": ("Spain",), "Estonia": ("Estonia",), "Eswatini": ("Eswatini", "Swaziland"),
    "United States": ("the United States", "the US", "the USA", "the United States of America", "the U.S."),
    "Ethiopia": ("Ethiopia",), "Fiji": ("Fiji",), "Finland": ("Finland",), "France": ("France",),
    "Gabon": ("Gabon",), "Gambia": ("the Gambia",), "Ghana": ("Ghana",), "Greece": ("Greece",),
    "Guatemala": ("Guatemala",), "Guinea": ("Guinea",), "Guinea-Bissau": ("Guinea-Bissau",),
    "Equatorial Guinea": ("Equatorial Guinea",), "Guyana": ("Guyana",), "Haiti": ("Haiti",),
    "Honduras": ("Honduras",), "Hungary": ("Hungary",), "India": ("India",), "Indonesia": ("Indonesia",),
    "Iraq": ("Iraq",), "Iran": ("Iran",), "Ireland": ("Ireland",), "Iceland": ("Iceland",), "Israel": ("Israel",),
    "Italy": ("Italy",), "Jamaica": ("Jamaica",), "Japan": ("Japan",), "Kazakhstan": ("Kazakhstan",),
    "Kenya": ("Kenya",), "Kyrgyzstan": ("Kyrgyzstan",), "Kiribati": ("Kiribati",), "Kuwait": ("Kuwait",),
    "Laos": ("Laos",), "Lesotho": ("Lesotho",), "Latvia": ("Latvia",), "Lebanon": ("Lebanon",),
    "Liberia": ("Liberia",), "Libya": ("Libya",), "Liechtenstein": ("Liechtenstein",),
    "Lithuania": ("Lithuania",), "Luxembourg": ("Luxembourg",),
    "North Macedonia": ("North Macedonia", "Macedonia"), "Madagascar": ("Madagascar",), "Malaysia": ("Malaysia",),
    "Malawi": ("Malawi",), "Maldives": ("the Maldives",), "Mali": ("Mali",), "Malta": ("Malta",),
    "Morocco": ("Morocco",), "Marshall Islands": ("the Marshall Islands",), "Mauritania": ("Mauritania",),
    "Mexico": ("Mexico",), "Micronesia": ("Micronesia",), "Moldova": ("Moldova",), "Monaco": ("Monaco",),
    "Mongolia": ("Mongolia",), "Montenegro": ("Montenegro",), "Mozambique": ("Mozambique",),
    "Namibia": ("Namibia",), "Nauru": ("Nauru",), "Nepal": ("Nepal",), "Nicaragua": ("Nicaragua",),
    "Niger": ("Niger",), "Nigeria": ("Nigeria",), "Norway": ("Norway",), "New Zealand": ("New Zealand",),
    "Oman": ("Oman",), "Uganda": ("Uganda",), "Uzbekistan": ("Uzbekistan",), "Pakistan": ("Pakistan",),
    "Palau": ("Palau",), "Panama": ("Panama",), "Papua New Guinea": ("Papua New Guinea",),
    "Paraguay": ("Paraguay",), "Netherlands": ("the Netherlands",), "Holland": ("Holland",), "Peru": ("Peru",),
    "Philippines": ("the Philippines",), "Poland": ("Poland",), "Portugal": ("Portugal",), "Qatar": ("Qatar",),
    "Central African Republic": ("the Central African Republic",),
    "Dominican Republic": ("the Dominican Republic",), "Czech Republic": ("the Czech Republic", "Czechia"),
    "Romania": ("Romania",), "United Kingdom": ("the United Kingdom", "the UK"),
    "Britain": ("Britain", "Great Britain"), "Russia": ("Russia",), "Rwanda": ("Rwanda",),
    "Saint Kitts and Nevis": ("Saint Kitts and Nevis",), "Saint Lucia": ("Saint Lucia",),
    "San Marino": ("San Marino",), "Saint Vincent and the Grenadines": ("Saint Vincent and the Grenadines",),
    "Solomon Islands": ("the Solomon Islands",), "Samoa": ("Samoa",),
    "São Tomé and Príncipe": ("São Tomé and Príncipe", "Sao Tome and Principe"), "Senegal": ("Senegal",),
    "Serbia": ("Serbia",), "Seychelles": ("the Seychelles",), "Sierra Leone": ("Sierra Leone",),
    "Singapore": ("Singapore",), "Slovakia": ("Slovakia",), "Slovenia": ("Slovenia",), "Somalia": ("Somalia",),
    "Sudan": ("Sudan",), "South Sudan": ("South Sudan",), "Sri Lanka": ("Sri Lanka",), "Sweden": ("Sweden",),
    "Switzerland": ("Switzerland",), "Suriname": ("Suriname",), "Syria": ("Syria",),
    "Tajikistan": ("Tajikistan",), "Tanzania": ("Tanzania",), "Thailand": ("Thailand",),
    "East Timor": ("East Timor", "Timor-Leste"), "Togo": ("Togo",), "Tonga": ("Tonga",),
    "Trinidad and Tobago": ("Trinidad and Tobago",), "Tunisia": ("Tunisia",), "Turkmenistan": ("Turkmenistan",),
    "Tuvalu": ("Tuvalu",), "Ukraine": ("Ukraine",), "Uruguay": ("Uruguay",), "Vanuatu": ("Vanuatu",),
    "Venezuela": ("Venezuela",), "Vietnam": ("Vietnam", "Viet Nam"), "Yemen": ("Yemen",), "Zambia": ("Zambia",),
    "Zimbabwe": ("Zimbabwe",), "Vatican": ("the Vatican",), "Taiwan": ("Taiwan",), "Palestine": ("Palestine",),
    "Kosovo": ("Kosovo",), "Greenland": ("Greenland",), "Hong Kong": ("Hong Kong",), "Macau": ("Macau", "Macao"),
    # nations of the United Kingdom
    "England": ("England",), "Scotland": ("Scotland",), "Wales": ("Wales",),
    "Northern Ireland": ("Northern Ireland",),
    # US states and Canadian provinces
    "Alabama": ("Alabama",), "Alaska": ("Alaska",), "Arizona": ("Arizona",), "Arkansas": ("Arkansas",),
    "California": ("California",), "North Carolina": ("North Carolina",), "South Carolina": ("South Carolina",),
    "Colorado": ("Colorado",), "Connecticut": ("Connecticut",), "North Dakota": ("North Dakota",),
    "South Dakota": ("South Dakota",), "Delaware": ("Delaware",), "Florida": ("Florida",), "Hawaii": ("Hawaii",),
    "Idaho": ("Idaho",), "Illinois": ("Illinois",), "Indiana": ("Indiana",), "Iowa": ("Iowa",),
    "Kansas": ("Kansas",), "Kentucky": ("Kentucky",), "Louisiana": ("Louisiana",), "Maine": ("Maine",),
    "Maryland": ("Maryland",), "Massachusetts": ("Massachusetts",), "Michigan": ("Michigan",),
    "Minnesota": ("Minnesota",), "Mississippi": ("Mississippi",), "Missouri": ("Missouri",),
    "Montana": ("Montana",), "Nebraska": ("Nebraska",), "Nevada": ("Nevada",),
    "New Hampshire": ("New Hampshire",), "New Jersey": ("New Jersey",), "New Mexico": ("New Mexico",),
    "Ohio": ("Ohio",), "Oklahoma": ("Oklahoma",), "Oregon": ("Oregon",), "Pennsylvania": ("Pennsylvania",),
    "Rhode Island": ("Rhode Island",), "Tennessee": ("Tennessee",), "Texas": ("Texas",), "Utah": ("Utah",),
    "Vermont": ("Vermont",), "West Virginia": ("West Virginia",), "Wisconsin": ("Wisconsin",),
    "Wyoming": ("Wyoming",), "Alberta": ("Alberta",), "British Columbia": ("British Columbia",),
    "Manitoba": ("Manitoba",), "New Brunswick": ("New Brunswick",), "Newfoundland": ("Newfoundland",),
    "Nova Scotia": ("Nova Scotia",), "Ontario": ("Ontario",), "Prince Edward Island": ("Prince Edward Island",),
    "Quebec": ("Quebec", "Québec"), "Saskatchewan": ("Saskatchewan",), "Yukon": ("Yukon",),
    "Nunavut": ("Nunavut",),
    # cities
    "London": ("London",), "Paris": ("Paris",), "Marseille": ("Marseille", "Marseilles"),
    "Lyon": ("Lyon", "Lyons"), "Bordeaux": ("Bordeaux",), "Toulouse": ("Toulouse",),
    "Strasbourg": ("Strasbourg",), "Lille": ("Lille",), "Versailles": ("Versailles",), "Avignon": ("Avignon",),
    "Cannes": ("Cannes",), "Calais": ("Calais",), "Le Havre": ("Le Havre",), "Brussels": ("Brussels",),
    "Antwerp": ("Antwerp",), "Bruges": ("Bruges",), "Geneva": ("Geneva",), "Zurich": ("Zurich",),
    "Bern": ("Bern", "Berne"), "Basel": ("Basel",), "Lausanne": ("Lausanne",), "Amsterdam": ("Amsterdam",),
    "Rotterdam": ("Rotterdam",), "The Hague": ("The Hague",), "Berlin": ("Berlin",), "Munich": ("Munich",),
    "Hamburg": ("Hamburg",), "Frankfurt": ("Frankfurt",), "Cologne": ("Cologne",), "Dresden": ("Dresden",),
    "Vienna": ("Vienna",), "Salzburg": ("Salzburg",), "Rome": ("Rome",), "Milan": ("Milan",),
    "Naples": ("Naples",), "Venice": ("Venice",), "Florence": ("Florence",), "Turin": ("Turin",),
    "Genoa": ("Genoa",), "Pisa": ("Pisa",), "Bologna": ("Bologna",), "Verona": ("Verona",), "Madrid": ("Madrid",),
    "Barcelona": ("Barcelona",), "Seville": ("Seville",), "Lisbon": ("Lisbon",), "Porto": ("Porto", "Oporto"),
    "Dublin": ("Dublin",), "Edinburgh": ("Edinburgh",), "Glasgow": ("Glasgow",), "Manchester": ("Manchester",),
    "Liverpool": ("Liverpool",), "Oxford": ("Oxford",), "Cambridge": ("Cambridge",),
    "Canterbury": ("Canterbury",), "Dover": ("Dover",), "Copenhagen": ("Copenhagen",),
    "Stockholm": ("Stockholm",), "Oslo": ("Oslo",), "Helsinki": ("Helsinki",), "Reykjavik": ("Reykjavik",),
    "Warsaw": ("Warsaw",), "Krakow": ("Krakow", "Kraków", "Cracow"), "Prague": ("Prague",),
    "Budapest": ("Budapest",), "Bucharest": ("Bucharest",), "Sofia": ("Sofia",), "Belgrade": ("Belgrade",),
    "Zagreb": ("Zagreb",), "Athens": ("Athens",), "Istanbul": ("Istanbul",), "Ankara": ("Ankara",),
    "Moscow": ("Moscow",), "Saint Petersburg": ("Saint Petersburg", "St. Petersburg", "St Petersburg"),
    "Kyiv": ("Kyiv", "Kiev"), "Minsk": ("Minsk",), "Tallinn": ("Tallinn",), "Riga": ("Riga",),
    "Vilnius": ("Vilnius",), "Jerusalem": ("Jerusalem",), "Tel Aviv": ("Tel Aviv",), "Baghdad": ("Baghdad",),
    "Tehran": ("Tehran",), "Damascus": ("Damascus",), "Beirut": ("Beirut",), "Mecca": ("Mecca",),
    "Dubai": ("Dubai",), "Abu Dhabi": ("Abu Dhabi",), "Doha": ("Doha",), "Riyadh": ("Riyadh",),
    "Kabul": ("Kabul",), "Islamabad": ("Islamabad",), "Karachi": ("Karachi",), "New Delhi": ("New Delhi",),
    "Delhi": ("Delhi",), "Mumbai": ("Mumbai", "Bombay"), "Kolkata": ("Kolkata", "Calcutta"),
    "Kathmandu": ("Kathmandu",), "Beijing": ("Beijing", "Peking"), "Shanghai": ("Shanghai",),
    "Taipei": ("Taipei",), "Seoul": ("Seoul",), "Pyongyang": ("Pyongyang",), "Tokyo": ("Tokyo",),
    "Kyoto": ("Kyoto",), "Osaka": ("Osaka",), "Nagoya": ("Nagoya",), "Yokohama": ("Yokohama",), "Kobe": ("Kobe",),
    "Nara": ("Nara",), "Hiroshima": ("Hiroshima",), "Nagasaki": ("Nagasaki",), "Sapporo": ("Sapporo",),
    "Sendai": ("Sendai",), "Fukuoka": ("Fukuoka",), "Saitama": ("Saitama",), "Chiba": ("Chiba",),
    "Hyogo": ("Hyogo",), "Matsuyama": ("Matsuyama",), "Nikko": ("Nikko",), "Narita": ("Narita",),
    "Bangkok": ("Bangkok",), "Hanoi": ("Hanoi",), "Ho Chi Minh City": ("Ho Chi Minh City",),
    "Manila": ("Manila",), "Jakarta": ("Jakarta",), "Kuala Lumpur": ("Kuala Lumpur",), "Cairo": ("Cairo",),
    "Algiers": ("Algiers",), "Tunis": ("Tunis",), "Casablanca": ("Casablanca",),
    "Marrakesh": ("Marrakesh", "Marrakech"), "Dakar": ("Dakar",), "Nairobi": ("Nairobi",),
    "Addis Ababa": ("Addis Ababa",), "Lagos": ("Lagos",), "Johannesburg": ("Johannesburg",),
    "Cape Town": ("Cape Town",), "Sydney": ("Sydney",), "Melbourne": ("Melbourne",), "Canberra": ("Canberra",),
    "Auckland": ("Auckland",), "Wellington": ("Wellington",), "New York": ("New York",),
    "Los Angeles": ("Los Angeles",), "San Francisco": ("San Francisco",), "Chicago": ("Chicago",),
    "Boston": ("Boston",), "Washington": ("Washington",), "Seattle": ("Seattle",),
    "Philadelphia": ("Philadelphia",), "New Orleans": ("New Orleans",), "Las Vegas": ("Las Vegas",),
    "Miami": ("Miami",), "Atlanta": ("Atlanta",), "Dallas": ("Dallas",), "Houston": ("Houston",),
    "Detroit": ("Detroit",), "San Diego": ("San Diego",), "Denver": ("Denver",), "Honolulu": ("Honolulu",),
    "Hollywood": ("Hollywood",), "Manhattan": ("Manhattan",), "Brooklyn": ("Brooklyn",), "Toronto": ("Toronto",),
    "Vancouver": ("Vancouver",), "Ottawa": ("Ottawa",), "Montreal": ("Montreal",),
    "Mexico City": ("Mexico City",), "Havana": ("Havana",), "Rio de Janeiro": ("Rio de Janeiro",),
    "São Paulo": ("São Paulo", "Sao Paulo"), "Buenos Aires": ("Buenos Aires",), "Lima": ("Lima",),
    "Bogotá": ("Bogotá", "Bogota"), "Santiago": ("Santiago",), "Caracas": ("Caracas",),
    "Brasília": ("Brasília", "Brasilia"),
    # rivers, seas and mountains
    "Seine": ("the Seine",), "Loire": ("the Loire",), "Rhine": ("the Rhine",),
    "Rhone": ("the Rhone", "the Rhône"), "Danube": ("the Danube",), "Thames": ("the Thames",),
    "Nile": ("the Nile",), "Ganges": ("the Ganges",), "Tiber": ("the Tiber",), "Volga": ("the Volga",),
    "Mediterranean": ("the Mediterranean",), "Atlantic": ("the Atlantic",), "Pacific": ("the Pacific",),
    "Baltic": ("the Baltic",), "English Channel": ("the English Channel", "the Channel"), "Alps": ("the Alps",),
    "Pyrenees": ("the Pyrenees",), "Himalayas": ("the Himalayas", "the Himalaya"), "Andes": ("the Andes",),
    "Rockies": ("the Rockies", "the Rocky Mountains"), "Everest": ("Everest", "Mount Everest"),
    "Kilimanjaro": ("Kilimanjaro",), "Fuji": ("Fuji", "Mount Fuji"), "Biwa": ("Biwa",),
}

_DOUBLED_ARTICLE = re.compile(r"\b([Tt]he) the\b")  # "the ⦅L1⦆" put back as "the the United States"


def mend_output(text: str) -> str:
    """ "in the the United States" -> "in the United States": the symbol stood for the article too,
    but a model may write one before it."""
    return _DOUBLED_ARTICLE.sub(r"\1", text)


# Abbreviations with a period that a capitalised word often follows (not "etc.", "a.m." or "p.m.", which as
# often end a sentence)
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "messrs", "dr", "prof", "st", "mt", "ft", "jr", "sr", "rev", "hon", "gen",
                           "col", "capt", "lt", "sgt", "cpl", "gov", "sen", "rep", "pres", "supt", "vs", "v", "no",
                           "nos", "vol", "p", "pp", "fig", "cf", "e.g", "i.e", "approx", "dept", "est", "inc", "ltd",
                           "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
                           "nov", "dec", "u.s", "u.k", "u.n"})

ENGLISH = Language("en", MONTHS, WEEKDAYS, dates_capitalised=True, names_by_capitals=True,
                   ambiguous_openers=frozenset({"may", "march"}),
                   number_words=NUMBER_WORDS, places=PLACES, place_article="the ", mend_output=mend_output,
                   abbreviations=ABBREVIATIONS)
