-- A child Application's health is its own reported health, so a root app-of-apps waits for each wave
-- of children to be Healthy (Argo CD has no built-in health for Application since 1.8). A child not
-- synced yet reports Missing, which Argo CD leaves out of its root's health: here it is Progressing,
-- so `argocd app wait --health` on the root returns once the last wave's children run too. A child
-- whose spec Argo CD refuses (InvalidSpecError: a project it may not use, a repository or destination
-- its project does not allow) will never sync: Degraded, with Argo CD's reason, for the operator.
hs = {status = "Progressing", message = ""}
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then hs.message = obj.status.health.message end
end
if hs.status == "Missing" then
  hs = {status = "Progressing", message = "its resources are not created yet"}
end
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "InvalidSpecError" then
      hs = {status = "Degraded", message = condition.message}
    end
  end
end
return hs
