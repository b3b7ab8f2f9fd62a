"""Sentences in many scripts for the embedded model's fidelity checks (written for adaptx's tests)."""

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "How much protein should a female eat per day?",
           "  Extra   spaces\tand a tab should not matter.  "],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund.", "Straße, Größe und Übermut: Umlaute zählen."],
    "fr": ["Où se trouve la gare la plus proche, s'il vous plaît ?", "L'été dernier, nous sommes allés à Montréal."],
    "es": ["¿Cuántos años tiene tu hermano mayor?", "El niño comió una manzana en la mañana."],
    "ru": ["Москва — столица России и крупнейший город страны.", "Я люблю читать книги по вечерам."],
    "ar": ["القاهرة هي عاصمة جمهورية مصر العربية.", "أحب قراءة الكتب في المساء."],
    "hi": ["भारत एक विशाल देश है जिसकी संस्कृति बहुत पुरानी है।", "मुझे शाम को किताबें पढ़ना पसंद है।"],
    "zh": ["北京是中华人民共和国的首都。", "我喜欢在晚上读书，也喜欢喝茶。"],
    "ja": ["東京は日本の首都であり、最大の都市です。", "ＡＢＣ１２３は全角文字です。"],
    "th": ["กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "ฉันชอบอ่านหนังสือในตอนเย็น"],
    "ko": ["서울은 대한민국의 수도입니다."],
    "el": ["Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."],
    "tr": ["İstanbul, Türkiye'nin en kalabalık şehridir."],
    "sw": ["Nairobi ni mji mkuu wa Kenya."],
}


def all_sentences():
    return [(lang, s) for lang, items in SENTENCES.items() for s in items]
