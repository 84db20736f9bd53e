"""The Lua a delta archive embeds, so that SWUpdate itself refuses a delta for another base.

SWUpdate's rdiff_image handler patches whatever file `rdiffbase` names, and librsync's delta
carries no checksum of its base: applied to another image it writes garbage. sw-description
can hold an `embedded-script` (Lua 5.3, built into Debian's swupdate) and name a function of
it as an image's `hook`; swupdate calls the hook while it parses sw-description, before a
byte of the delta is read or written, and refuses the archive when the hook returns false.
Ours reads the base image (its size in bytes, from `rdiffbase`: a partition may be larger
than the image) and compares its SHA-256 with the one the delta names. Lua has no SHA-256,
so the script brings one (FIPS 180-4; 32-bit words in Lua 5.3's 64-bit integers, masked).
"""

DELTA_HOOK = "delta_base_check"

_SCRIPT = r"""-- Written by firmware_updates.swu: refuse this delta unless the base image is %(version)s.
local BASE = "%(device)s"
local BASE_SIZE = %(size)d
local BASE_SHA256 = "%(sha256)s"
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local M = 0xffffffff

local function rotr(x, n)
  return ((x >> n) | (x << (32 - n))) & M
end

local function sha256(data)
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local length = #data
  data = data .. "\128" .. string.rep("\0", (55 - length) %% 64) .. string.pack(">I8", length * 8)
  local w = {}
  for block = 1, #data, 64 do
    for i = 1, 16 do
      w[i] = string.unpack(">I4", data, block + (i - 1) * 4)
    end
    for i = 17, 64 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = rotr(x, 7) ~ rotr(x, 18) ~ (x >> 3)
      local s1 = rotr(y, 17) ~ rotr(y, 19) ~ (y >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 1, 64 do
      local t1 = (h + (rotr(e, 6) ~ rotr(e, 11) ~ rotr(e, 25)) + ((e & f) ~ (~e & g)) + K[i] + w[i]) & M
      local t2 = ((rotr(a, 2) ~ rotr(a, 13) ~ rotr(a, 22)) + ((a & b) ~ (a & c) ~ (b & c))) & M
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) & M, c, b, a, (t1 + t2) & M
    end
    h0, h1, h2, h3 = (h0 + a) & M, (h1 + b) & M, (h2 + c) & M, (h3 + d) & M
    h4, h5, h6, h7 = (h4 + e) & M, (h5 + f) & M, (h6 + g) & M, (h7 + h) & M
  end
  return string.format("%%08x%%08x%%08x%%08x%%08x%%08x%%08x%%08x", h0, h1, h2, h3, h4, h5, h6, h7)
end

function %(hook)s(image)
  local file = io.open(BASE, "rb")
  if file == nil then
    swupdate.error("Delta refused: its base image " .. BASE .. " cannot be read")
    return false, image
  end
  local data = file:read(BASE_SIZE)
  file:close()
  if data == nil or #data ~= BASE_SIZE or sha256(data) ~= BASE_SHA256 then
    swupdate.error("Delta refused: it patches %(version)s (sha256 " .. BASE_SHA256 ..
                   "), and " .. BASE .. " holds another image")
    return false, image
  end
  return true, image
end
"""


def delta_base_check_script(*, base_device: str, base_version: str, base_sha256: str,
                            base_size: int) -> str:
    """The embedded script of a delta archive; every value is checked plain by the caller
    (an absolute path of plain characters, a version, hex digits, an int)."""
    return _SCRIPT % {"device": base_device, "version": base_version, "sha256": base_sha256.lower(),
                      "size": base_size, "hook": DELTA_HOOK}
