"""Names for the name augmentation (`train.name_augmentation`).

`augmentation_names()`: given names and surnames of many languages and origins (Latin alphabet,
accented ones included) plus plausible names invented from syllables (`invented_names`). Every
name is one whitespace token, NFKC-normal, starts with a capital letter. A name with a character
the SentencePiece model does not know (its vocabulary covers the training data's characters
only) is dropped by the caller (`names.usable_names`). The held-out names test draws from another
list, disjoint from this one (scripts/make_names_test.py).
"""

from __future__ import annotations

import random
import unicodedata
from functools import lru_cache

_GIVEN = """
Jane John Emily Michael Sarah David Jessica James Olivia William Sophia Benjamin Charlotte Henry
Amelia Lucas Harper Ethan Abigail Daniel Grace Samuel Chloe Matthew Lily Joseph Hannah Andrew
Natalie Ryan Zoe Nathan Victoria Dylan Brooke Kevin Megan Jason Ashley Tyler Lauren Justin Rachel
Brandon Kayla Austin Morgan Logan Paige Caleb Madison Connor Avery Gavin Riley Wyatt Hazel Owen
Violet Eli Stella Isaac Aurora Hudson Ellie Jack Ruby Oscar Alice Freddie Poppy Archie Isla Alfie
Evie Teddy Florence Arthur Maisie Reggie Edith Stanley Agnes Harold Mabel Walter Dorothy Albert
Beatrice Clarence Mildred Eugene Gertrude Vernon Winifred Jean Marie Pierre Sophie Luc Camille
Julien Chloé Mathieu Léa Antoine Manon Nicolas Inès Hugo Élodie Théo Margaux Baptiste Clémence
Étienne Aurélie Rémi Solène Yannick Gaëlle Benoît Noémie Jérôme Maëlle Loïc Anaïs Cédric Océane
Thibault Héloïse Gaspard Apolline Romain Capucine Arnaud Ségolène Florian Amélie Jean-Luc
Anne-Marie Marc-André François Geneviève Joël Zoë Lukas Anna Jonas Lena Felix Mia Maximilian Leon
Emma Paul Tobias Johanna Matthias Katharina Sebastian Franziska Jörg Jürgen Günter Uwe Dieter
Ingrid Gudrun Wolfgang Sabine Helmut Birgit Rüdiger Bärbel Götz José María Carmen Alejandro Lucía
Diego Sofía Javier Valentina Mateo Camila Santiago Ximena Joaquín Álvaro Begoña Íñigo Nuria Raúl
Rocío Gonzalo Pilar João Ana Luís Beatriz Tiago Mariana Gonçalo Rodrigo Fernanda Thiago Larissa
Giuseppe Giulia Marco Francesca Alessandro Chiara Lorenzo Martina Matteo Federica Niccolò Giacomo
Ilaria Salvatore Rosalba Łukasz Małgorzata Wojciech Agnieszka Krzysztof Zofia Paweł Katarzyna
Michał Żaneta Jiří Tereza Petr Zuzana Václav Božena Ondřej Dušan Milica Dragan Jelena Goran Mirela
Ivan Olga Dmitri Natasha Sergei Svetlana Yuri Oksana Bohdan Kateryna Zoltán Réka István Katalin
Gergő Eszter Mikko Aino Jukka Päivi Juha Sanna Tõnu Liis Jānis Ieva Rūta Lars Sven Astrid Björn
Sigrid Øystein Solveig Åsa Magnus Freja Søren Mette Rasmus Kirsten Gunnar Thora Halldór Guðrún
Mehmet Ayşe Mustafa Elif Emre Zeynep Burak Gülay Çağla Oğuz Şule Ahmed Fatima Omar Aisha Youssef
Layla Karim Samira Tariq Yasmin Hassan Nadia Khalid Amira Rashid Soraya Dariush Shirin Reza Parisa
Kwame Ama Kofi Abena Chidi Ngozi Oluwaseun Folake Tendai Nomvula Thabo Zanele Amani Wanjiru Baraka
Makena Sékou Aminata Moussa Fatoumata Oumar Awa Mamadou Adjoa Yaw Kagiso Lerato Tsitsi Priya Arjun
Ananya Rohan Kavya Vikram Deepika Rahul Sanjay Lakshmi Aditya Meera Ravi Sunita Rajesh Aarav
Ishaan Nisha Farhan Ayesha Imran Shreya Siddharth Pooja Hiroshi Yuki Takeshi Aiko Kenji Sakura
Haruto Yui Sota Hana Ren Mei Wei Xiaoming Jing Hao Yan Jun Min-jun Seo-yeon Ji-ho Hye-jin Minh
Linh Duc Huong Thanh Kai Leilani Keanu Moana Tane Aroha Mele Sione Rangi Citlali Xochitl Inti
Killa Siobhan Niamh Saoirse Ciarán Aoife Oisín Caoimhe Eilidh Hamish Morag Angus Rhys Cerys Dafydd
Gwen Bronwen Seren Nikos Eleni Giorgos Katerina Dimitris Yannis Athena Noa Yael Eitan Tamar Avi
Shira Yosef Maayan Esperanza Guadalupe Dolores Consuelo Ramón Ignacio Agustín Florencia Bruno
Emil Vera Oskar Klara Anton Greta Konrad Ida Viktor Alma Elias Nina Jakob Selma Leopold Frida
"""

_SURNAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Dubois Lefebvre Moreau Laurent Girard Fontaine
Rousseau Mercier Lambert Bonnet Faure Chevalier Legrand Gauthier Perrin Morel Fournier Lemaire
Duval Caron Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer
Koch Bauer Richter Klein Schröder Neumann Schwarz Zimmermann Rossi Russo Ferrari Esposito Bianchi
Romano Colombo Ricci Marino Greco Fernández Gómez Díaz Álvarez Jiménez Ruiz Moreno Muñoz Romero
Navarro Silva Santos Oliveira Souza Pereira Costa Carvalho Almeida Ferreira Ribeiro Nowak
Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Jansen
Visser Bakker Smit Meijer Mulder Dekker Andersen Nielsen Hansen Johansson Karlsson Nilsson
Eriksson Larsson Lindqvist Halvorsen Ivanov Petrov Smirnov Popescu Novák Horváth Kovačević
Petrović Jovanović Kuznetsov Yılmaz Kaya Demir Şahin Çelik Yıldız Öztürk Aydın Wang Zhang Liu Chen
Yang Huang Zhao Zhou Sato Suzuki Takahashi Tanaka Watanabe Yamamoto Nakamura Kim Park Choi
Kang Yoon Tran Pham Hoang Patel Sharma Singh Kumar Gupta Mehta Iyer Reddy Chatterjee Banerjee
Haddad Khoury Mansour Nasser Saleh Aziz Hakimi Farouk Okafor Adeyemi Mensah Owusu Diallo Traoré
Keita Ndlovu Dlamini Mwangi Otieno Kamau Abebe Tesfaye Murphy Kelly O'Brien O'Connor Byrne Walsh
McCarthy Gallagher Doherty Papadopoulos Georgiou Nikolaidis Nagy Kovács Tóth Szabó Korhonen
Virtanen Mäkinen Nieminen Hämäläinen Cohen Mizrahi Peretz Castillo Vargas Mendoza Guerrero
"""

_ONSETS_AUG = ["b", "br", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "r", "s", "t", "tr", "v",
               "z", "ch", "sh", "j", "h", "y", "w"]
_VOWELS_AUG = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "é", "è"]
_CODAS_AUG = ["", "", "", "n", "r", "l", "s", "m", "x", "th"]

def _clean(words: str) -> list[str]:
    """Whitespace-separated names -> NFKC-normal, de-duplicated, order kept."""
    seen: dict[str, None] = {}
    for word in words.split():
        seen.setdefault(unicodedata.normalize("NFKC", word), None)
    return list(seen)


def invented_names(count: int, seed: int, onsets: list[str], vowels: list[str], codas: list[str],
              avoid: set[str], most_syllables: int = 3) -> list[str]:
    """`count` pronounceable invented names of 2 to `most_syllables` syllables, a fixed
    function of the arguments."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        syllables = [rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(2, most_syllables))]
        name = unicodedata.normalize("NFKC", ("".join(syllables) + rng.choice(codas)).capitalize())
        if name not in avoid:
            names.setdefault(name, None)
    return list(names)


@lru_cache(maxsize=1)
def augmentation_names() -> tuple[str, ...]:
    """Real given names and surnames, then 1,200 invented ones (about 2,000 in all)."""
    real = _clean(_GIVEN + _SURNAMES)
    return tuple(real + invented_names(1200, 12, _ONSETS_AUG, _VOWELS_AUG, _CODAS_AUG, set(real)))
