"""A confusables skeleton (Unicode TR 39 §4, pure): characters that look like
a Latin letter or digit map to it, so "Аdmin" (Cyrillic А) and "admin" share
one skeleton. The table is generated from the TR 39 data as packaged by
confusable-homoglyphs 3.3.1 (confusables.json, Unicode confusables.txt): every
character whose confusable is one ASCII letter or digit and which NFKC does
not already fold to it. Names are compared after case folding, where
TR 39's own rules for ASCII letters and digits follow (rn -> m, vv -> w, 0 -> o, 1 -> l)."""

from __future__ import annotations

import unicodedata

# ASCII prototype: the characters that read as it.
_LOOKALIKES = {
    "2": "ƧϨᒿꙄꛯꝚ",
    "3": "ƷȜЗӠⳌꝪꞫ𑣊𖼻𝈆",
    "4": "Ꮞ𑢯",
    "5": "Ƽ𑢻",
    "6": "бᏮⳒ𑣕",
    "7": "𐓒𑣆𝈒",
    "8": "Ȣȣ৪੪ଃ𐌚",
    "9": "৭੧୨൭ⳊꝮ𑢬𑣌𑣖",
    "A": "ΑАᎪᗅꓮ𐊠𖽀𝚨𝛢𝜜𝝖𝞐",
    "B": "ΒВᏴᗷꓐꞴ𐊂𐊡𐌁𝚩𝛣𝜝𝝗𝞑",
    "C": "ϹСᏟⲤꓚ𐊢𐌂𐐕𐔜𑣩𑣲🝌",
    "D": "Ꭰᗞᗪꓓ",
    "E": "ΕЕᎬ⋿ⴹꓰ𐊆𑢦𑢮𝚬𝛦𝜠𝝚𝞔",
    "F": "ϜᖴꓝꞘ𐊇𐊥𐔥𑢢𑣂𝈓𝟊",
    "G": "ԌᏀᏳꓖ",
    "H": "ΗНᎻᕼⲎꓧ𐋏𝚮𝛨𝜢𝝜𝞖",
    "J": "ͿЈᎫᒍꓙꞲ",
    "K": "ΚКᏦᛕⲔꓗ𐔘𝚱𝛫𝜥𝝟𝞙",
    "L": "ᏞᒪⳐꓡ𐐛𐔦𑢣𑢲𖼖𝈪",
    "M": "ΜϺМᎷᗰᛖⲘꓟ𐊰𐌑𝚳𝛭𝜧𝝡𝞛",
    "N": "ΝⲚꓠ𐔓𝚴𝛮𝜨𝝢𝞜",
    "O": "ΟОՕ০ଠ୦ዐⲞⵔ〇ꓳ𐊒𐊫𐐄𐓂𐔖𑓐𑢵𑣠𝚶𝛰𝜪𝝤𝞞𝟎𝟘𝟢𝟬𝟶🯰",
    "P": "ΡРᏢᑭⲢꓑ𐊕𝚸𝛲𝜬𝝦𝞠",
    "Q": "ⵕ",
    "R": "ƦᎡᏒᖇꓣ𐒴𖼵𝈖",
    "S": "ЅՏᏕᏚꓢ𐊖𐐠𖼺",
    "T": "ΤТᎢ⊤⟙Ⲧꓔ𐊗𐊱𐌕𑢼𖼊𝚻𝛵𝜯𝝩𝞣🝨",
    "U": "Սሀᑌ∪⋃ꓴ𐓎𑢸𖽂",
    "V": "Ѵ۷Ꮩᐯⴸꓦꛟ𐔝𑢠𖼈𝈍",
    "W": "ԜᎳᏔꓪ𑣦𑣯",
    "X": "ΧХ᙭ᚷ╳ⲬⵝꓫꞳ𐊐𐊴𐌗𐌢𐔧𑣬𝚾𝛸𝜲𝝬𝞦",
    "Y": "ΥϒУҮᎩᎽⲨꓬ𐊲𑢤𖽃𝚼𝛶𝜰𝝪𝞤",
    "Z": "ΖᏃꓜ𐋵𑢩𑣥𝚭𝛧𝜡𝝛𝞕",
    "a": "ɑαа⍺𝛂𝛼𝜶𝝰𝞪",
    "b": "ƄЬᏏᑲᖯ",
    "c": "ϲсᴄⲥꮯ𐐽",
    "d": "ԁᏧᑯꓒ",
    "e": "еҽ℮ꬲ",
    "f": "ſքẝꞙꬵ",
    "g": "ƍɡցᶃ",
    "h": "һհᏂ",
    "i": "ıɩɪ˛ͺιіӏᎥι⍳ꙇꭵ𑣃𝚤𝛊𝜄𝜾𝝸𝞲",
    "j": "ϳј",
    "l": "ƖǀΙІӀ۱ᛁℐℑⅠ∣⏽ⲒⵏꓲＩ￨𐊊𐌉𐌠𖼨𝐈𝐼𝑰𝓘𝕀𝕴𝖨𝗜𝘐𝙄𝙸𝚰𝛪𝜤𝝞𝞘𝟏𝟙𝟣𝟭𝟷🯱",
    "n": "ոռ",
    "o": "οσоօ۵०੦૦௦ం౦ಂ೦ംഠ൦ං๐໐ဝ၀ჿᴏᴑⲟꬽ𐐬𐓪𑣈𑣗𝛐𝛔𝜊𝜎𝝄𝝈𝝾𝞂𝞸𝞼",
    "p": "ρϱр⍴ⲣ𝛒𝛠𝜌𝜚𝝆𝝔𝞀𝞎𝞺𝟈",
    "q": "ԛգզ",
    "r": "гᴦⲅꭇꭈꮁ",
    "s": "ƽѕꜱꮪ𐑈𑣁",
    "u": "ʋυսᴜꞟꭎꭒ𐓶𑣘𝛖𝜐𝝊𝞄𝞾",
    "v": "νѵᴠ∨⋁ꮩ𑜆𑣀𝛎𝜈𝝂𝝼𝞶",
    "w": "ɯѡԝաᴡꮃ𑜊𑜎𑜏",
    "x": "×хᕁᕽ᙮⤫⤬⨯",
    "y": "ɣʏγуүყᶌỿℽꭚ𑣜𝛄𝛾𝜸𝝲𝞬",
    "z": "ᴢꮓ𑣄",
}
_TABLE = {ord(ch): proto for proto, chars in _LOOKALIKES.items() for ch in chars}
# After case folding, the letters and digits that read as another (TR 39's own rules).
_ASCII = (("0", "o"), ("1", "l"), ("rn", "m"), ("vv", "w"))


def skeleton(text: str) -> str:
    """`text` with every lookalike of an ASCII letter or digit replaced by it
    (after NFD, as TR 39 does; case is kept)."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(_TABLE))


def name_skeleton(name: str) -> str:
    """What two names that read alike share: NFKC, lookalikes mapped (skeleton),
    case-folded, letters and digits only, then the ASCII rules (0 -> o, 1 -> l,
    rn -> m, vv -> w): "Аdmin", "ADMIN", "a.d.m.i.n" and "adrnin" are all "admin"."""
    text = skeleton(unicodedata.normalize("NFKC", name)).casefold()
    key = "".join(ch for ch in unicodedata.normalize("NFKC", skeleton(text)) if ch.isalnum())
    for seq, proto in _ASCII:
        key = key.replace(seq, proto)
    return key
