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
ASK_ADMIN = "Tanya admin"
HELPFUL = "👍"
UNHELPFUL = "👎"
FEEDBACK_THANKS = "Terima kasih atas masukanmu!"
UNHELPFUL_SORRY = "Maaf jawabannya kurang membantu. Masukanmu kami catat untuk perbaikan."
UNHELPFUL_ASK = UNHELPFUL_SORRY + " Mau tanya admin langsung? Tekan tombol di bawah."
HANDOFF_SENT = "Pertanyaanmu sudah diteruskan ke admin. Jawabannya akan dikirim di sini ya."
HANDOFF_ALREADY = "Pertanyaan ini sudah diteruskan ke admin. Mohon tunggu jawabannya ya."
HANDOFF_LIMITED = "Kamu sudah beberapa kali memanggil admin. Coba lagi nanti ya."
# what agents see in the support chat
TICKET = (
    "Tiket #{ticket} dari {chat}\n\n"
    "Pesan: {message}\n"
    "{history}\n"
    "Balas pesan ini untuk menjawab pengguna; balas dengan /close untuk menutup tiket."
)
TICKET_HISTORY = "Pesan sebelumnya:\n{lines}\n"
AGENT_RELAYED = "Terkirim ke pengguna (tiket #{ticket})."
AGENT_NOT_TEXT = "Hanya pesan teks yang bisa diteruskan ke pengguna. Balas lagi dengan teks ya."
AGENT_TICKET_CLOSED = "Tiket #{ticket} sudah ditutup; balasan ini tidak dikirim ke pengguna."
TICKET_CLOSED = "Tiket #{ticket} ditutup."
TICKET_ALREADY_CLOSED = "Tiket #{ticket} sudah ditutup sebelumnya."
TROUBLE = "Maaf, sedang ada gangguan. Coba lagi sebentar lagi ya."
CHARACTERS = (
    "Maaf, pesanmu berisi karakter yang tidak bisa saya baca. Coba ketik ulang pertanyaanmu ya."
)


def refusal(kind: str, limit: int) -> str:
    """The polite reply to a message answer() refused (bot.answering.InvalidMessage.kind)."""
    if kind == "too_long":
        return TOO_LONG.format(limit=limit)
    return CHARACTERS if kind == "characters" else EMPTY


def ticket(number: int, chat: str, message: str, history: list[str]) -> str:
    """The message the support chat gets for a new ticket."""
    earlier = (
        TICKET_HISTORY.format(lines="\n".join(f"• {text}" for text in history)) if history else ""
    )
    return TICKET.format(ticket=number, chat=chat, message=message, history=earlier)
