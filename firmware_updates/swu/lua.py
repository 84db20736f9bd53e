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

# Sent to every panel in each delta's sw-description, so kept short: no comments, the
# round constants computed (the fractional bits of the primes' cube and square roots, as
# FIPS 180-4 defines them; a double holds them exactly enough, tested against hashlib).
_SCRIPT = r"""local B,N,S="%(device)s",%(size)d,"%(sha256)s"
local M,K,H=0xffffffff,{},{}
local p,n=2,0
while n<64 do local q=true for d=2,math.floor(p^0.5) do if p%%d==0 then q=false break end end
if q then n=n+1 K[n]=math.floor(p^(1/3)%%1*2^32) if n<9 then H[n]=math.floor(p^0.5%%1*2^32) end end p=p+1 end
local function r(x,c) return ((x>>c)|(x<<(32-c)))&M end
local function sha256(m)
local h,l,w={table.unpack(H)},#m,{}
m=m.."\128"..string.rep("\0",(55-l)%%64)..string.pack(">I8",l*8)
for o=1,#m,64 do
for i=1,16 do w[i]=string.unpack(">I4",m,o+(i-1)*4) end
for i=17,64 do local x,y=w[i-15],w[i-2]
w[i]=(w[i-16]+(r(x,7)~r(x,18)~(x>>3))+w[i-7]+(r(y,17)~r(y,19)~(y>>10)))&M end
local a,b,c,d,e,f,g,k=table.unpack(h)
for i=1,64 do
local t=(k+(r(e,6)~r(e,11)~r(e,25))+((e&f)~(~e&g))+K[i]+w[i])&M
local u=((r(a,2)~r(a,13)~r(a,22))+((a&b)~(a&c)~(b&c)))&M
k,g,f,e,d,c,b,a=g,f,e,(d+t)&M,c,b,a,(t+u)&M end
for i,v in ipairs({a,b,c,d,e,f,g,k}) do h[i]=(h[i]+v)&M end end
return string.format(string.rep("%%08x",8),table.unpack(h)) end
function %(hook)s(image)
local f=io.open(B,"rb")
local m=f and f:read(N)
if f then f:close() end
if m==nil or #m~=N or sha256(m)~=S then
swupdate.error("Delta refused: it patches %(version)s (sha256 "..S.."), and "..B.." holds another image")
return false,image end
return true,image end
"""


def delta_base_check_script(*, base_device: str, base_version: str, base_sha256: str,
                            base_size: int) -> str:
    """The embedded script of a delta archive; every value is checked plain by the caller
    (an absolute path of plain characters, a version, hex digits, an int)."""
    return _SCRIPT % {"device": base_device, "version": base_version, "sha256": base_sha256.lower(),
                      "size": base_size, "hook": DELTA_HOOK}
