-- wrk script: one Open Inference Protocol infer request (one row, JSON).
-- Usage: MODEL=<name> BODY_FILE=<request.json> TOKEN=<token or none> wrk … -s this http://HOST
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/v2/models/" .. os.getenv("MODEL") .. "/infer"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN") or "none"
if token ~= "none" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
