-- Argo CD health check for Auth0User and Auth0RoleBinding (auth0.usersync.io), reading the
-- kstatus-style conditions the operator writes: observedGeneration first, then Stalled, Ready
-- and Reconciling. A Stalled condition recorded for the current generation counts as observed:
-- the operator looked at this spec and cannot proceed until it (or the tenant) changes.
local hs = {}

local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local generation = obj.metadata.generation
local stalled = condition("Stalled")
local stalledNow = stalled ~= nil and stalled.status == "True" and
  (stalled.observedGeneration == nil or stalled.observedGeneration == generation)

if not stalledNow then
  if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration ~= generation then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
    return hs
  end
end

if stalledNow then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.reason .. ": " .. (reconciling.message or "")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  local drifted = condition("Drifted")
  if drifted ~= nil and drifted.status == "True" then
    hs.message = hs.message .. " (" .. (drifted.message or "drifted") .. ")"
  end
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
