"""Ids of the special tokens, fixed for every SentencePiece model s2s trains.

Data, models and search all agree on these without importing each other.
"""

PAD_ID = 0  # padding; never predicted, masked out of attention and loss
UNK_ID = 1  # unknown piece
BOS_ID = 2  # start of a target sentence (first decoder input)
EOS_ID = 3  # end of sentence (appended to source and target)
