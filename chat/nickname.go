package chat

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The word lists are aligned: adjectivesKO[i] and adjectivesEN[i] mean the same, and so
// do the animals, so one visitor is "총명한 고슴도치" in Korean and "clever hedgehog" in
// English.
var (
	adjectivesKO = [...]string{
		"총명한", "용감한", "귀여운", "날쌘", "느긋한", "똑똑한", "명랑한", "상냥한",
		"수줍은", "씩씩한", "엉뚱한", "용맹한", "유쾌한", "조용한", "친절한", "행복한",
		"부지런한", "다정한", "재빠른", "졸린", "배고픈", "신나는", "반짝이는", "따뜻한",
		"차분한", "대담한", "온화한", "영리한", "활발한", "우아한", "꿈꾸는", "호기심 많은",
	}
	adjectivesEN = [...]string{
		"clever", "brave", "cute", "nimble", "easygoing", "smart", "cheerful", "gentle",
		"shy", "spirited", "quirky", "valiant", "jolly", "quiet", "friendly", "happy",
		"diligent", "kind", "speedy", "sleepy", "hungry", "excited", "sparkling", "warm",
		"calm", "bold", "mild", "witty", "lively", "graceful", "dreamy", "curious",
	}
	animalsKO = [...]string{
		"고슴도치", "다람쥐", "수달", "여우", "너구리", "판다", "코알라", "펭귄",
		"부엉이", "고래", "돌고래", "토끼", "사슴", "거북이", "햄스터", "고양이",
		"강아지", "오리", "참새", "치타", "사자", "호랑이", "곰", "늑대",
		"기린", "코끼리", "하마", "알파카", "나무늘보", "물개", "두더지", "너구리판다",
	}
	animalsEN = [...]string{
		"hedgehog", "squirrel", "otter", "fox", "raccoon", "panda", "koala", "penguin",
		"owl", "whale", "dolphin", "rabbit", "deer", "turtle", "hamster", "cat",
		"puppy", "duck", "sparrow", "cheetah", "lion", "tiger", "bear", "wolf",
		"giraffe", "elephant", "hippo", "alpaca", "sloth", "seal", "mole", "red panda",
	}
)

// avatarCount is how many avatar images the web UI ships: static/avatars/a01.svg … a24.svg.
const avatarCount = 24

// nicknameFor returns the nickname and avatar key of a user id; a pure function.
func nicknameFor(userID, locale string) (nickname, avatar string) {
	h := sha256.Sum256([]byte("edge-chat-nick\x00" + userID))
	a := binary.BigEndian.Uint32(h[0:4]) % uint32(len(adjectivesEN))
	n := binary.BigEndian.Uint32(h[4:8]) % uint32(len(animalsEN))
	v := binary.BigEndian.Uint32(h[8:12]) % avatarCount
	avatar = fmt.Sprintf("a%02d", v+1)
	if locale == "en" {
		return adjectivesEN[a] + " " + animalsEN[n], avatar
	}
	return adjectivesKO[a] + " " + animalsKO[n], avatar
}
