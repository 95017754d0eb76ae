-- A child Application's health is its own reported health, so a root app-of-apps waits for each wave
-- of children to be Healthy (Argo CD has no built-in health for Application since 1.8).
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then hs.message = obj.status.health.message end
end
return hs
