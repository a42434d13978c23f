{
  "error": {
    "code": 429,
    "message": "Provider returned error",
    "metadata": {
      "provider_name": "Google",
      "raw": "google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations"
    }
  },
  "user_id": "user_2wT5ElBE4Es3R4QrNLpZiXICmQP"
}
