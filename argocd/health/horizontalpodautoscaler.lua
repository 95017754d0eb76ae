-- An HPA is Degraded only for what an operator must fix: it cannot read or scale its target, its
-- selector or metric is invalid, or a container lacks the request its utilisation is a share of.
-- Waiting for its pods' first metrics (a new rollout, metrics-server still sampling) is Progressing:
-- the built-in check calls that Degraded, which stops a root's wave (argoproj/argo-cd#6287).
hs = {status = "Progressing", message = "waiting for the HPA's first metrics"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local fatal = {
  AbleToScale = {FailedGetScale = true, FailedUpdateScale = true},
  ScalingActive = {InvalidSelector = true, InvalidMetricSourceType = true},
}
local active = nil
for _, condition in ipairs(obj.status.conditions) do
  local message = condition.message or ""
  if condition.status == "False" and fatal[condition.type] ~= nil and fatal[condition.type][condition.reason] then
    return {status = "Degraded", message = message}
  end
  if string.find(message, "missing request for", 1, true) then
    return {status = "Degraded", message = message}
  end
  if condition.type == "ScalingActive" then active = condition end
end
if active == nil then
  return hs
end
-- ScalingDisabled: the target was scaled to zero on purpose, which pauses the HPA.
if active.status == "True" or active.reason == "ScalingDisabled" then
  return {status = "Healthy", message = active.message or ""}
end
return {status = "Progressing", message = active.message or ""}
