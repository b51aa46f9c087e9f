"""French: month and weekday names, number words, elision and place names.

Months and weekdays are written in lower case ("en septembre"); a capitalised "Mars" is the planet,
unless it opens a sentence ("Octobre est fini."), where "Mars" still stays text. French elides
"de", "que", "jusque", "lorsque", "puisque" before a vowel: a name put in place of another keeps
that right ("de Tom" -> "d'Alice"), and so does an output whose symbols come back as months,
weekdays or places ("de avril" -> "d'avril", "de Afrique" -> "d'Afrique").

Places (see lang/en.py for what the list holds) are keyed by their English name; the first form
is the one written in output, the others are further spellings found in input (an unaccented
"Etats-Unis", an older "Bombay"). French forms never carry an article ("Afrique" for
"l'Afrique"), except where it is part of a city's name ("Le Caire", "La Havane"), whose form
without it is a further form ("au Caire", "la Nouvelle-Orléans").
"""

from __future__ import annotations

import re
from functools import cache

from seq2seq.entities.language import Language

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
NUMBER_WORDS = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
                "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20,
                "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60, "cent": 100, "mille": 1000}
ELIDABLE = frozenset({"de", "que", "jusque", "lorsque", "puisque"})  # before a vowel: d', qu', jusqu', ...

PLACES: dict[str, tuple[str, ...]] = {
    # continents and big regions
    "Africa": ("Afrique",), "Europe": ("Europe",), "Asia": ("Asie",), "America": ("Amérique",),
    "North America": ("Amérique du Nord",), "South America": ("Amérique du Sud",),
    "Central America": ("Amérique centrale",), "Latin America": ("Amérique latine",), "Oceania": ("Océanie",),
    "Antarctica": ("Antarctique",), "Arctic": ("Arctique",), "North Africa": ("Afrique du Nord",),
    "Southeast Asia": ("Asie du Sud-Est",), "Middle East": ("Moyen-Orient",), "Near East": ("Proche-Orient",),
    "Far East": ("Extrême-Orient",), "Scandinavia": ("Scandinavie",), "Siberia": ("Sibérie",),
    "Balkans": ("Balkans",), "Caribbean": ("Caraïbes",), "Sahara": ("Sahara",), "Tibet": ("Tibet",),
    "Lapland": ("Laponie",), "Patagonia": ("Patagonie",), "Mesopotamia": ("Mésopotamie",),
    "Brittany": ("Bretagne",), "Normandy": ("Normandie",), "Provence": ("Provence",), "Alsace": ("Alsace",),
    "Burgundy": ("Bourgogne",), "Corsica": ("Corse",), "Sicily": ("Sicile",), "Sardinia": ("Sardaigne",),
    "Crete": ("Crète",), "Tuscany": ("Toscane",), "Bavaria": ("Bavière",), "Catalonia": ("Catalogne",),
    "Andalusia": ("Andalousie",), "Flanders": ("Flandre", "Flandres"), "Wallonia": ("Wallonie",),
    "Tahiti": ("Tahiti",), "Bali": ("Bali",), "Okinawa": ("Okinawa",),
    "Hokkaido": ("Hokkaido", "Hokkaïdo", "Hokkaidô"), "Kyushu": ("Kyushu", "Kyūshū"), "Shikoku": ("Shikoku",),
    "Honshu": ("Honshu", "Honshū"), "Kansai": ("Kansai",),
    # countries
    "Afghanistan": ("Afghanistan",), "South Africa": ("Afrique du Sud",), "Albania": ("Albanie",),
    "Algeria": ("Algérie",), "Germany": ("Allemagne",), "Andorra": ("Andorre",), "Angola": ("Angola",),
    "Antigua and Barbuda": ("Antigua-et-Barbuda",), "Saudi Arabia": ("Arabie saoudite", "Arabie Saoudite"),
    "Argentina": ("Argentine",), "Armenia": ("Arménie",), "Australia": ("Australie",), "Austria": ("Autriche",),
    "Azerbaijan": ("Azerbaïdjan",), "Bahamas": ("Bahamas",), "Bahrain": ("Bahreïn",),
    "Bangladesh": ("Bangladesh",), "Barbados": ("Barbade",), "Belgium": ("Belgique",), "Belize": ("Belize",),
    "Benin": ("Bénin",), "Bhutan": ("Bhoutan",), "Belarus": ("Biélorussie", "Bélarus"),
    "Myanmar": ("Birmanie", "Myanmar"), "Bolivia": ("Bolivie",),
    "Bosnia and Herzegovina": ("Bosnie-Herzégovine", "Bosnie"), "Botswana": ("Botswana",), "Brazil": ("Brésil",),
    "Brunei": ("Brunei", "Brunéi"), "Bulgaria": ("Bulgarie",), "Burkina Faso": ("Burkina Faso",),
    "Burundi": ("Burundi",), "Cambodia": ("Cambodge",), "Cameroon": ("Cameroun",), "Canada": ("Canada",),
    "Cape Verde": ("Cap-Vert",), "Chile": ("Chili",), "China": ("Chine",), "Cyprus": ("Chypre",),
    "Colombia": ("Colombie",), "Comoros": ("Comores",), "Congo": ("Congo", "République du Congo"),
    "Democratic Republic of the Congo": ("République démocratique du Congo", "RDC"), "Korea": ("Corée",),
    "North Korea": ("Corée du Nord",), "South Korea": ("Corée du Sud",), "Costa Rica": ("Costa Rica",),
    "Côte d'Ivoire": ("Côte d'Ivoire",), "Croatia": ("Croatie",), "Cuba": ("Cuba",), "Denmark": ("Danemark",),
    "Djibouti": ("Djibouti",), "Egypt": ("Égypte", "Egypte"),
    "United Arab Emirates": ("Émirats arabes unis", "Emirats arabes unis"), "Ecuador": ("Équateur", "Equateur"),
    "Eritrea": ("Érythrée", "Erythrée"), "Spain": ("Espagne",), "Estonia": ("Estonie",),
    "Eswatini": ("Eswatini", "Swaziland"),
    "United States": ("États-Unis", "Etats-Unis", "États-Unis d'Amérique", "Etats-Unis d'Amérique", "USA"),
    "Ethiopia": ("Éthiopie", "Ethiopie"), "Fiji": ("Fidji",), "Finland": ("Finlande",), "France": ("France",),
    "Gabon": ("Gabon",), "Gambia": ("Gambie",), "Ghana": ("Ghana",), "Greece": ("Grèce",),
    "Guatemala": ("Guatemala",), "Guinea": ("Guinée",), "Guinea-Bissau": ("Guinée-Bissau",),
    "Equatorial Guinea": ("Guinée équatoriale",), "Guyana": ("Guyana",), "Haiti": ("Haïti", "Haiti"),
    "Honduras": ("Honduras",), "Hungary": ("Hongrie",), "India": ("Inde",), "Indonesia": ("Indonésie",),
    "Iraq": ("Irak", "Iraq"), "Iran": ("Iran",), "Ireland": ("Irlande",), "Iceland": ("Islande",),
    "Israel": ("Israël", "Israel"), "Italy": ("Italie",), "Jamaica": ("Jamaïque",), "Japan": ("Japon",),
    "Kazakhstan": ("Kazakhstan",), "Kenya": ("Kenya",), "Kyrgyzstan": ("Kirghizistan",),
    "Kiribati": ("Kiribati",), "Kuwait": ("Koweït",), "Laos": ("Laos",), "Lesotho": ("Lesotho",),
    "Latvia": ("Lettonie",), "Lebanon": ("Liban",), "Liberia": ("Liberia", "Libéria"), "Libya": ("Libye",),
    "Liechtenstein": ("Liechtenstein",), "Lithuania": ("Lituanie",), "Luxembourg": ("Luxembourg",),
    "North Macedonia": ("Macédoine du Nord", "Macédoine"), "Madagascar": ("Madagascar",),
    "Malaysia": ("Malaisie",), "Malawi": ("Malawi",), "Maldives": ("Maldives",), "Mali": ("Mali",),
    "Malta": ("Malte",), "Morocco": ("Maroc",), "Marshall Islands": ("Îles Marshall",),
    "Mauritania": ("Mauritanie",), "Mexico": ("Mexique",), "Micronesia": ("Micronésie",),
    "Moldova": ("Moldavie", "Moldova"), "Monaco": ("Monaco",), "Mongolia": ("Mongolie",),
    "Montenegro": ("Monténégro",), "Mozambique": ("Mozambique",), "Namibia": ("Namibie",), "Nauru": ("Nauru",),
    "Nepal": ("Népal",), "Nicaragua": ("Nicaragua",), "Niger": ("Niger",), "Nigeria": ("Nigeria", "Nigéria"),
    "Norway": ("Norvège",), "New Zealand": ("Nouvelle-Zélande",), "Oman": ("Oman",), "Uganda": ("Ouganda",),
    "Uzbekistan": ("Ouzbékistan",), "Pakistan": ("Pakistan",), "Palau": ("Palaos",), "Panama": ("Panama",),
    "Papua New Guinea": ("Papouasie-Nouvelle-Guinée",), "Paraguay": ("Paraguay",), "Netherlands": ("Pays-Bas",),
    "Holland": ("Hollande",), "Peru": ("Pérou",), "Philippines": ("Philippines",), "Poland": ("Pologne",),
    "Portugal": ("Portugal",), "Qatar": ("Qatar",),
    "Central African Republic": ("République centrafricaine", "Centrafrique"),
    "Dominican Republic": ("République dominicaine",), "Czech Republic": ("République tchèque", "Tchéquie"),
    "Romania": ("Roumanie",), "United Kingdom": ("Royaume-Uni",), "Britain": ("Grande-Bretagne",),
    "Russia": ("Russie",), "Rwanda": ("Rwanda",), "Saint Kitts and Nevis": ("Saint-Christophe-et-Niévès",),
    "Saint Lucia": ("Sainte-Lucie",), "San Marino": ("Saint-Marin",),
    "Saint Vincent and the Grenadines": ("Saint-Vincent-et-les-Grenadines",),
    "Solomon Islands": ("Îles Salomon",), "Samoa": ("Samoa",),
    "São Tomé and Príncipe": ("Sao Tomé-et-Principe", "São Tomé-et-Principe"), "Senegal": ("Sénégal",),
    "Serbia": ("Serbie",), "Seychelles": ("Seychelles",), "Sierra Leone": ("Sierra Leone",),
    "Singapore": ("Singapour",), "Slovakia": ("Slovaquie",), "Slovenia": ("Slovénie",), "Somalia": ("Somalie",),
    "Sudan": ("Soudan",), "South Sudan": ("Soudan du Sud",), "Sri Lanka": ("Sri Lanka",), "Sweden": ("Suède",),
    "Switzerland": ("Suisse",), "Suriname": ("Suriname",), "Syria": ("Syrie",), "Tajikistan": ("Tadjikistan",),
    "Tanzania": ("Tanzanie",), "Thailand": ("Thaïlande", "Thailande"),
    "East Timor": ("Timor oriental", "Timor-Leste"), "Togo": ("Togo",), "Tonga": ("Tonga",),
    "Trinidad and Tobago": ("Trinité-et-Tobago",), "Tunisia": ("Tunisie",), "Turkmenistan": ("Turkménistan",),
    "Tuvalu": ("Tuvalu",), "Ukraine": ("Ukraine",), "Uruguay": ("Uruguay",), "Vanuatu": ("Vanuatu",),
    "Venezuela": ("Venezuela", "Vénézuela"), "Vietnam": ("Viêt Nam", "Vietnam", "Viet Nam"),
    "Yemen": ("Yémen", "Yemen"), "Zambia": ("Zambie",), "Zimbabwe": ("Zimbabwe",), "Vatican": ("Vatican",),
    "Taiwan": ("Taïwan", "Taiwan"), "Palestine": ("Palestine",), "Kosovo": ("Kosovo",),
    "Greenland": ("Groenland",), "Hong Kong": ("Hong Kong", "Hong-Kong"), "Macau": ("Macao",),
    # nations of the United Kingdom
    "England": ("Angleterre",), "Scotland": ("Écosse", "Ecosse"), "Wales": ("Pays de Galles",),
    "Northern Ireland": ("Irlande du Nord",),
    # US states and Canadian provinces
    "Alabama": ("Alabama",), "Alaska": ("Alaska",), "Arizona": ("Arizona",), "Arkansas": ("Arkansas",),
    "California": ("Californie",), "North Carolina": ("Caroline du Nord",),
    "South Carolina": ("Caroline du Sud",), "Colorado": ("Colorado",), "Connecticut": ("Connecticut",),
    "North Dakota": ("Dakota du Nord",), "South Dakota": ("Dakota du Sud",), "Delaware": ("Delaware",),
    "Florida": ("Floride",), "Hawaii": ("Hawaï", "Hawaii"), "Idaho": ("Idaho",), "Illinois": ("Illinois",),
    "Indiana": ("Indiana",), "Iowa": ("Iowa",), "Kansas": ("Kansas",), "Kentucky": ("Kentucky",),
    "Louisiana": ("Louisiane",), "Maine": ("Maine",), "Maryland": ("Maryland",),
    "Massachusetts": ("Massachusetts",), "Michigan": ("Michigan",), "Minnesota": ("Minnesota",),
    "Mississippi": ("Mississippi",), "Missouri": ("Missouri",), "Montana": ("Montana",),
    "Nebraska": ("Nebraska",), "Nevada": ("Nevada",), "New Hampshire": ("New Hampshire",),
    "New Jersey": ("New Jersey",), "New Mexico": ("Nouveau-Mexique",), "Ohio": ("Ohio",),
    "Oklahoma": ("Oklahoma",), "Oregon": ("Oregon",), "Pennsylvania": ("Pennsylvanie",),
    "Rhode Island": ("Rhode Island",), "Tennessee": ("Tennessee",), "Texas": ("Texas",), "Utah": ("Utah",),
    "Vermont": ("Vermont",), "West Virginia": ("Virginie-Occidentale",), "Wisconsin": ("Wisconsin",),
    "Wyoming": ("Wyoming",), "Alberta": ("Alberta",), "British Columbia": ("Colombie-Britannique",),
    "Manitoba": ("Manitoba",), "New Brunswick": ("Nouveau-Brunswick",), "Newfoundland": ("Terre-Neuve",),
    "Nova Scotia": ("Nouvelle-Écosse", "Nouvelle-Ecosse"), "Ontario": ("Ontario",),
    "Prince Edward Island": ("Île-du-Prince-Édouard",), "Quebec": ("Québec", "Quebec"),
    "Saskatchewan": ("Saskatchewan",), "Yukon": ("Yukon",), "Nunavut": ("Nunavut",),
    # cities
    "London": ("Londres",), "Paris": ("Paris",), "Marseille": ("Marseille",), "Lyon": ("Lyon",),
    "Bordeaux": ("Bordeaux",), "Toulouse": ("Toulouse",), "Strasbourg": ("Strasbourg",), "Lille": ("Lille",),
    "Versailles": ("Versailles",), "Avignon": ("Avignon",), "Cannes": ("Cannes",), "Calais": ("Calais",),
    "Le Havre": ("Le Havre", "Havre"), "Brussels": ("Bruxelles",), "Antwerp": ("Anvers",), "Bruges": ("Bruges",),
    "Geneva": ("Genève",), "Zurich": ("Zurich",), "Bern": ("Berne",), "Basel": ("Bâle",),
    "Lausanne": ("Lausanne",), "Amsterdam": ("Amsterdam",), "Rotterdam": ("Rotterdam",),
    "The Hague": ("La Haye", "Haye"), "Berlin": ("Berlin",), "Munich": ("Munich",), "Hamburg": ("Hambourg",),
    "Frankfurt": ("Francfort",), "Cologne": ("Cologne",), "Dresden": ("Dresde",), "Vienna": ("Vienne",),
    "Salzburg": ("Salzbourg",), "Rome": ("Rome",), "Milan": ("Milan",), "Naples": ("Naples",),
    "Venice": ("Venise",), "Florence": ("Florence",), "Turin": ("Turin",), "Genoa": ("Gênes",), "Pisa": ("Pise",),
    "Bologna": ("Bologne",), "Verona": ("Vérone",), "Madrid": ("Madrid",), "Barcelona": ("Barcelone",),
    "Seville": ("Séville",), "Lisbon": ("Lisbonne",), "Porto": ("Porto",), "Dublin": ("Dublin",),
    "Edinburgh": ("Édimbourg", "Edimbourg"), "Glasgow": ("Glasgow",), "Manchester": ("Manchester",),
    "Liverpool": ("Liverpool",), "Oxford": ("Oxford",), "Cambridge": ("Cambridge",),
    "Canterbury": ("Cantorbéry",), "Dover": ("Douvres",), "Copenhagen": ("Copenhague",),
    "Stockholm": ("Stockholm",), "Oslo": ("Oslo",), "Helsinki": ("Helsinki",), "Reykjavik": ("Reykjavik",),
    "Warsaw": ("Varsovie",), "Krakow": ("Cracovie",), "Prague": ("Prague",), "Budapest": ("Budapest",),
    "Bucharest": ("Bucarest",), "Sofia": ("Sofia",), "Belgrade": ("Belgrade",), "Zagreb": ("Zagreb",),
    "Athens": ("Athènes",), "Istanbul": ("Istanbul", "Istamboul"), "Ankara": ("Ankara",), "Moscow": ("Moscou",),
    "Saint Petersburg": ("Saint-Pétersbourg",), "Kyiv": ("Kiev", "Kyiv"), "Minsk": ("Minsk",),
    "Tallinn": ("Tallinn",), "Riga": ("Riga",), "Vilnius": ("Vilnius",), "Jerusalem": ("Jérusalem",),
    "Tel Aviv": ("Tel Aviv", "Tel-Aviv"), "Baghdad": ("Bagdad",), "Tehran": ("Téhéran",), "Damascus": ("Damas",),
    "Beirut": ("Beyrouth",), "Mecca": ("La Mecque", "Mecque"), "Dubai": ("Dubaï", "Dubai"),
    "Abu Dhabi": ("Abou Dabi", "Abu Dhabi"), "Doha": ("Doha",), "Riyadh": ("Riyad",), "Kabul": ("Kaboul",),
    "Islamabad": ("Islamabad",), "Karachi": ("Karachi",), "New Delhi": ("New Delhi",), "Delhi": ("Delhi",),
    "Mumbai": ("Bombay", "Mumbai"), "Kolkata": ("Calcutta", "Kolkata"), "Kathmandu": ("Katmandou",),
    "Beijing": ("Pékin",), "Shanghai": ("Shanghai", "Shanghaï"), "Taipei": ("Taipei", "Taïpei"),
    "Seoul": ("Séoul",), "Pyongyang": ("Pyongyang",), "Tokyo": ("Tokyo", "Tôkyô"), "Kyoto": ("Kyoto", "Kyôto"),
    "Osaka": ("Osaka", "Ôsaka"), "Nagoya": ("Nagoya",), "Yokohama": ("Yokohama",), "Kobe": ("Kobe", "Kobé"),
    "Nara": ("Nara",), "Hiroshima": ("Hiroshima",), "Nagasaki": ("Nagasaki",), "Sapporo": ("Sapporo",),
    "Sendai": ("Sendai",), "Fukuoka": ("Fukuoka",), "Saitama": ("Saitama",), "Chiba": ("Chiba",),
    "Hyogo": ("Hyogo", "Hyōgo"), "Matsuyama": ("Matsuyama",), "Nikko": ("Nikko", "Nikkô"), "Narita": ("Narita",),
    "Bangkok": ("Bangkok",), "Hanoi": ("Hanoï", "Hanoi"), "Ho Chi Minh City": ("Hô Chi Minh-Ville",),
    "Manila": ("Manille",), "Jakarta": ("Jakarta", "Djakarta"), "Kuala Lumpur": ("Kuala Lumpur",),
    "Cairo": ("Le Caire", "Caire"), "Algiers": ("Alger",), "Tunis": ("Tunis",), "Casablanca": ("Casablanca",),
    "Marrakesh": ("Marrakech",), "Dakar": ("Dakar",), "Nairobi": ("Nairobi",), "Addis Ababa": ("Addis-Abeba",),
    "Lagos": ("Lagos",), "Johannesburg": ("Johannesburg",), "Cape Town": ("Le Cap",), "Sydney": ("Sydney",),
    "Melbourne": ("Melbourne",), "Canberra": ("Canberra",), "Auckland": ("Auckland",),
    "Wellington": ("Wellington",), "New York": ("New York", "New-York"), "Los Angeles": ("Los Angeles",),
    "San Francisco": ("San Francisco",), "Chicago": ("Chicago",), "Boston": ("Boston",),
    "Washington": ("Washington",), "Seattle": ("Seattle",), "Philadelphia": ("Philadelphie",),
    "New Orleans": ("La Nouvelle-Orléans", "Nouvelle-Orléans", "La Nouvelle-Orleans", "Nouvelle-Orleans"),
    "Las Vegas": ("Las Vegas",), "Miami": ("Miami",), "Atlanta": ("Atlanta",), "Dallas": ("Dallas",),
    "Houston": ("Houston",), "Detroit": ("Détroit", "Detroit"), "San Diego": ("San Diego",),
    "Denver": ("Denver",), "Honolulu": ("Honolulu",), "Hollywood": ("Hollywood",), "Manhattan": ("Manhattan",),
    "Brooklyn": ("Brooklyn",), "Toronto": ("Toronto",), "Vancouver": ("Vancouver",), "Ottawa": ("Ottawa",),
    "Montreal": ("Montréal", "Montreal"), "Mexico City": ("Mexico",), "Havana": ("La Havane", "Havane"),
    "Rio de Janeiro": ("Rio de Janeiro",), "São Paulo": ("São Paulo", "Sao Paulo"),
    "Buenos Aires": ("Buenos Aires",), "Lima": ("Lima",), "Bogotá": ("Bogota", "Bogotá"),
    "Santiago": ("Santiago",), "Caracas": ("Caracas",), "Brasília": ("Brasilia", "Brasília"),
    # rivers, seas and mountains
    "Seine": ("Seine",), "Loire": ("Loire",), "Rhine": ("Rhin",), "Rhone": ("Rhône",), "Danube": ("Danube",),
    "Thames": ("Tamise",), "Nile": ("Nil",), "Ganges": ("Gange",), "Tiber": ("Tibre",), "Volga": ("Volga",),
    "Mediterranean": ("Méditerranée",), "Atlantic": ("Atlantique",), "Pacific": ("Pacifique",),
    "Baltic": ("Baltique",), "English Channel": ("Manche",), "Alps": ("Alpes",), "Pyrenees": ("Pyrénées",),
    "Himalayas": ("Himalaya",), "Andes": ("Andes",), "Rockies": ("Rocheuses",), "Everest": ("Everest",),
    "Kilimanjaro": ("Kilimandjaro",), "Fuji": ("Fuji",), "Biwa": ("Biwa",),
}

_VOWEL_FIRST = "avril|août|octobre"
_CONSONANT_FIRST = "|".join(w for w in MONTHS + WEEKDAYS if w not in _VOWEL_FIRST.split("|"))
_D_CONSONANT = re.compile(rf"(?<![\w'’-])(d)['’] ?(?=(?:{_CONSONANT_FIRST})\b)", re.IGNORECASE)
_DE_VOWEL = re.compile(rf"(?<![\w'’-])(d)e (?=(?:{_VOWEL_FIRST})\b)", re.IGNORECASE)
_VOWELS = "AEIOUÉÈÊÂÎÔÛ"


def mend_date_elision(text: str) -> str:
    """ "d'mai" -> "de mai", "de avril" -> "d'avril": elision before a month or weekday."""
    return _DE_VOWEL.sub(r"\1'", _D_CONSONANT.sub(r"\1e ", text))


@cache
def _de_vowel_place() -> re.Pattern[str]:
    """ "de Afrique" -> "d'Afrique": elision before a place that begins with a vowel."""
    forms = sorted({form for forms in PLACES.values() for form in forms if form[0] in _VOWELS}, key=len, reverse=True)
    return re.compile(rf"(?<![\w'’-])([Dd])e (?=(?:{'|'.join(map(re.escape, forms))})(?![\w-]))")


def mend_output(text: str) -> str:
    """An output whose symbols came back as months, weekdays or places, with its elisions made right."""
    return _de_vowel_place().sub(r"\1'", mend_date_elision(text))


# Abbreviations with a period that a capitalised word often follows (not "etc.", which as often ends a sentence)
ABBREVIATIONS = frozenset({"m", "mm", "mme", "mmes", "mlle", "mlles", "dr", "pr", "me", "mgr", "st", "ste", "p", "pp",
                           "cf", "av", "bd", "n", "no", "vol", "chap", "art", "éd", "fig", "tél", "env", "hab", "apr",
                           "j.-c", "cie", "ex", "gén", "col", "cdt", "lt", "sgt", "capt", "prof"})

FRENCH = Language("fr", MONTHS, WEEKDAYS, dates_capitalised=False, names_by_capitals=True,
                  ambiguous_openers=frozenset({"mars"}),
                  number_words=NUMBER_WORDS, elidable=ELIDABLE, places=PLACES, mend_dates=mend_date_elision,
                  mend_output=mend_output, abbreviations=ABBREVIATIONS)
