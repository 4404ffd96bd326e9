"""What the bot says on Telegram besides FAQ answers (Indonesian, like the FinBuddy users)."""

from __future__ import annotations

GREETING = (
    "Halo! Saya asisten FAQ {name}. Tulis pertanyaanmu dengan bahasamu sendiri, "
    "nanti saya carikan jawabannya."
)
EXAMPLES_HEADER = "Contoh pertanyaan yang bisa kamu ajukan:"
GROUP_HINT = "Di grup, sebut @{username} atau balas pesan saya supaya saya menjawab."
DID_YOU_MEAN = "Maksud kamu…? Pilih salah satu pertanyaan di bawah ini:"
NOT_TEXT = "Maaf, saya hanya bisa membaca pesan teks. Silakan ketik pertanyaanmu ya."
EDITED = "Pesan yang diedit tidak saya proses. Silakan kirim pertanyaanmu sebagai pesan baru ya."
EMPTY = "Pesanmu kosong. Silakan ketik pertanyaanmu ya."
TOO_LONG = (
    "Pesanmu terlalu panjang. "
    "Coba tulis pertanyaanmu lebih singkat (maksimal {limit} karakter) ya."
)
UNKNOWN_COMMAND = (
    "Perintah itu tidak saya kenal. Ketik /help untuk bantuan, atau langsung tanya saja."
)
RATE_LIMITED = (
    "Pelan-pelan ya, kamu mengirim terlalu banyak pesan. Tunggu sebentar, lalu coba lagi."
)
PICK_EXPIRED = "Pilihan ini sudah tidak berlaku. Silakan tanyakan lagi ya."
PICK_THANKS = "Terima kasih, pilihanmu membantu saya belajar."
NONE_OF_THESE = "Bukan salah satunya"
NONE_THANKS = "Terima kasih, pertanyaanmu kami teruskan ke tim kami."
TROUBLE = "Maaf, sedang ada gangguan. Coba lagi sebentar lagi ya."
CHARACTERS = (
    "Maaf, pesanmu berisi karakter yang tidak bisa saya baca. Coba ketik ulang pertanyaanmu ya."
)


def refusal(kind: str, limit: int) -> str:
    """The polite reply to a message answer() refused (bot.answering.InvalidMessage.kind)."""
    if kind == "too_long":
        return TOO_LONG.format(limit=limit)
    return CHARACTERS if kind == "characters" else EMPTY
